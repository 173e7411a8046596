"""Cursors, retention rules and rewind targets: parsing and the errors that name the input."""

from __future__ import annotations

import datetime as dt

import pytest

from logistica_workers.events.cursor import START, Cursor, CursorError
from logistica_workers.events.retention import RetentionPolicy, parse_rules
from logistica_workers.events.rewind import RewindError, parse_target


def test_cursors_round_trip_and_order_numerically() -> None:
    c = Cursor.parse("1000-5")
    assert str(c) == "1000-5" and c == Cursor(1000, 5)
    assert Cursor.parse("999-9") < c < Cursor.parse("1000-6")  # not as text: "999" > "1000"
    assert Cursor.parse("0-0") == START


@pytest.mark.parametrize("text", ["", "5", "a-1", "1-b", "-1-2", "1--2", "1-2-3", " 1-2"])
def test_malformed_cursors_are_refused(text: str) -> None:
    with pytest.raises(CursorError, match="two numbers"):
        Cursor.parse(text)


def test_out_of_range_cursors_are_refused() -> None:
    with pytest.raises(CursorError, match="out of range"):
        Cursor.parse(f"{2**64}-1")
    with pytest.raises(CursorError, match="out of range"):
        Cursor.parse(f"1-{2**63}")


def test_retention_rules() -> None:
    rules = parse_rules(" shop=7, fleet/carrier-x=90 ,")
    assert rules == {("shop", None): 7, ("fleet", "carrier-x"): 90}
    assert RetentionPolicy(days=30, rules=rules).longest == 90
    for bad in ("shop", "shop=0", "Shop=3", "a/b/c=1", "a=1=2", "a=99999"):
        with pytest.raises(ValueError, match="LOGISTICA_EVENTS_RETENTION_RULES"):
            parse_rules(bad)


def test_rewind_targets() -> None:
    assert parse_target("start") == START
    assert parse_target("end") == "end"
    assert parse_target("12-34") == Cursor(12, 34)
    assert parse_target("2026-11-23T10:00:00Z") == dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)
    with pytest.raises(RewindError, match="time zone"):
        parse_target("2026-11-23T10:00:00")
    with pytest.raises(RewindError, match="--to must be"):
        parse_target("yesterday")
