"""The providers table: every scheme signs what it verifies, finds its own delivery id and
stores its headers but never its signature."""

from __future__ import annotations

import base64
import hashlib

import orjson
import pytest

from logistica_workers.api import HmacSpec, Provider
from logistica_workers.ingest.idempotency import event_id
from logistica_workers.ingest.providers import (
    SCHEMES,
    prepare_keys,
    sign,
    stored_headers,
    verify,
)
from logistica_workers.ingest.signatures import SignatureError

HMAC = HmacSpec.model_validate({"header": "X-Sig", "algorithm": "sha512", "prefix": "sha512="})
URL = "https://hooks.example.com/ingest/sms"
BODY = b'{"id":"evt_1","event_id":"Ev1","type":"t"}'
SIGNATURE_HEADERS = {
    "x-hub-signature-256",
    "stripe-signature",
    "x-shopify-hmac-sha256",
    "x-slack-signature",
    "webhook-signature",
    "x-twilio-signature",
    "x-sig",
}


def secret(provider: Provider) -> str:
    return "whsec_" + base64.b64encode(b"k" * 24).decode() if provider is Provider.STANDARD else "k"


def signed(provider: Provider, body: bytes = BODY) -> dict[str, str]:
    url = URL if provider is not Provider.TWILIO else URL + "?bodySHA256=" + _sha(body)
    return sign(
        provider, secret(provider), body, timestamp=1000, delivery_id="d-1", hmac_spec=HMAC, url=url
    )


def _sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def check(provider: Provider, headers: dict[str, str], body: bytes = BODY) -> None:
    url = URL + "?bodySHA256=" + _sha(BODY)
    keys = prepare_keys(provider, [secret(provider)])
    verify(provider, headers, body, keys, now=1000, tolerance=300, hmac_spec=HMAC, url=url)


def test_every_provider_has_one_entry() -> None:
    assert set(SCHEMES) == set(Provider)


@pytest.mark.parametrize("provider", list(Provider))
def test_each_scheme_verifies_what_it_signs_and_nothing_else(provider: Provider) -> None:
    headers = signed(provider)
    check(provider, headers)
    with pytest.raises(SignatureError):
        check(provider, headers, BODY.replace(b"t", b"u"))


@pytest.mark.parametrize("provider", list(Provider))
def test_delivery_id_comes_from_the_scheme_else_the_body_hash(provider: Provider) -> None:
    headers = signed(provider)
    got = event_id(provider, None, headers, orjson.loads(BODY), BODY)
    expected = {
        Provider.STRIPE: "evt_1",  # the event object's id
        Provider.SLACK: "Ev1",  # event_id of the Events API
        Provider.HMAC: "sha256:" + _sha(BODY),  # no delivery id: the body stands in
    }.get(provider, "d-1")
    assert got == expected


@pytest.mark.parametrize("provider", list(Provider))
def test_stored_headers_are_the_schemes_never_a_signature(provider: Provider) -> None:
    headers = {k.lower(): v for k, v in signed(provider).items()}
    headers["authorization"] = "Bearer x"
    kept = stored_headers(provider, headers)
    assert "content-type" in kept
    assert not SIGNATURE_HEADERS & set(kept)
    assert "authorization" not in kept
    assert set(kept) - {"content-type"} == set(SCHEMES[provider].headers) & set(headers)
