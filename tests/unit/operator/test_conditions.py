"""Conditions: set, transitions, observedGeneration (the shared typed model and the dict form)."""

from __future__ import annotations

from logistica_operator.conditions import is_true
from logistica_operator.conditions import set_condition as set_on_dicts
from logistica_workers.api.conditions import Condition, find, set_condition


def test_a_new_condition_is_a_transition_with_its_generation() -> None:
    out, changed = set_condition([], "Ready", True, "Ready", "ok", 3)
    assert changed
    (c,) = out
    assert (c.type, c.status, c.reason, c.message, c.observed_generation) == (
        "Ready",
        "True",
        "Ready",
        "ok",
        3,
    )
    assert c.last_transition_time is not None


def test_same_status_keeps_the_transition_time_but_takes_the_new_generation() -> None:
    old = Condition(
        type="Ready", status="True", reason="A", observed_generation=1,
        last_transition_time="2020-01-01T00:00:00Z",
    )  # fmt: skip
    out, changed = set_condition([old], "Ready", True, "B", "again", 2)
    assert not changed
    assert out[0].last_transition_time == "2020-01-01T00:00:00Z"
    assert (out[0].reason, out[0].observed_generation) == ("B", 2)


def test_a_status_flip_moves_the_transition_time_and_keeps_the_others_in_order() -> None:
    a = Condition(type="A", status="True", last_transition_time="2020-01-01T00:00:00Z")
    b = Condition(type="B", status="True", last_transition_time="2020-01-01T00:00:00Z")
    out, changed = set_condition([a, b], "A", False, "Gone", "", 5)
    assert changed
    assert [c.type for c in out] == ["A", "B"]
    assert out[0].status == "False"
    assert out[0].last_transition_time != "2020-01-01T00:00:00Z"
    assert out[1] == b
    assert find(out, "B") == b
    assert find(out, "C") is None


def test_dict_form_round_trips_through_the_model() -> None:
    out, changed = set_on_dicts(None, "SecretResolved", False, "SecretNotFound", "no s", 1)
    assert changed
    assert out[0]["observedGeneration"] == 1
    assert out[0]["status"] == "False"
    assert not is_true(out, "SecretResolved")
    out, changed = set_on_dicts(out, "SecretResolved", True, "KeysFound", "1 key", 2)
    assert changed
    assert is_true(out, "SecretResolved")
    assert set(out[0]) == {
        "type",
        "status",
        "reason",
        "message",
        "observedGeneration",
        "lastTransitionTime",
    }
