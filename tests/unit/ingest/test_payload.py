"""Body rules of the ingest worker that need no server: forms, gzip, content types."""

from __future__ import annotations

import gzip
import zlib

import pytest

from logistica_workers.api import Provider
from logistica_workers.ingest.body import BodyKind, check_content_type, content_encoding
from logistica_workers.ingest.body import _inflate as inflate
from logistica_workers.ingest.form import parse_form
from logistica_workers.ingest.providers import SCHEMES
from logistica_workers.ingest.refusal import PayloadError


def test_form_fields_repeated_names_and_slack_payload() -> None:
    doc = parse_form(b"a=1&b=&a=2&payload=%7B%22type%22%3A%22block_actions%22%7D")
    assert doc == {"a": ["1", "2"], "b": "", "payload": {"type": "block_actions"}}
    assert parse_form(b"") == {}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"a=%ff", "not valid UTF-8"),
        (b"a=%00", "NUL"),
        (b"novalue&&", "not name=value"),
        (b"payload=%5B1%2C", "form field payload: body is not valid JSON"),
        (b"&".join(b"f%d=1" % i for i in range(1001)), "more than 1000 fields"),
    ],
)
def test_bad_forms_name_the_problem(body: bytes, words: str) -> None:
    with pytest.raises(PayloadError, match=words) as err:
        parse_form(body)
    assert (err.value.status, err.value.code) == (400, "bad_form")


def test_inflate_bounds_the_output_not_the_input() -> None:
    data = gzip.compress(b"x" * 100_000)
    assert inflate(data, 100_000) == b"x" * 100_000
    with pytest.raises(PayloadError, match="inflated body exceeds 99999") as err:
        inflate(data, 99_999)
    assert err.value.status == 413
    # a bomb stops at the limit after at most one step past it
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = b"".join(c.compress(bytes(1 << 20)) for _ in range(256)) + c.flush()
    with pytest.raises(PayloadError, match="exceeds 65536"):
        inflate(bomb, 65536)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"not gzip at all", "not valid gzip"),
        (gzip.compress(b"[1, 2, 3]")[:-12], "truncated"),
        (gzip.compress(b"[1]") + b"trailing", "after the end"),
    ],
)
def test_bad_gzip(data: bytes, words: str) -> None:
    with pytest.raises(PayloadError, match=words) as err:
        inflate(data, 1 << 20)
    assert (err.value.status, err.value.code) == (400, "bad_gzip")


def test_content_types_and_encodings() -> None:
    assert check_content_type("application/json; charset=utf-8") is BodyKind.JSON
    assert check_content_type("application/cloudevents+json") is BodyKind.JSON
    for provider in (Provider.SLACK, Provider.TWILIO):
        form = SCHEMES[provider].form_bodies
        assert check_content_type("application/x-www-form-urlencoded", form) is BodyKind.FORM
    with pytest.raises(PayloadError, match="must be application/json, got") as err:
        check_content_type(
            "application/x-www-form-urlencoded", SCHEMES[Provider.GITHUB].form_bodies
        )
    assert err.value.status == 415
    assert content_encoding("", False) is False
    assert content_encoding("identity", False) is False
    assert content_encoding("gzip", True) is True
    with pytest.raises(PayloadError, match=r"enable it with spec\.gzip"):
        content_encoding("gzip", False)
    with pytest.raises(PayloadError, match="'br' is not accepted"):
        content_encoding("br", True)
