"""Signature schemes against the providers' published test vectors, and edge cases."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from logistica_workers.api import HmacSpec, Provider
from logistica_workers.ingest.providers import prepare_keys, sign, verify
from logistica_workers.ingest.signatures import SignatureError


def keys(provider: Provider, *values: str):  # type: ignore[no-untyped-def]
    return prepare_keys(provider, list(values))


def test_github_documentation_vector() -> None:
    # docs.github.com "Validating webhook deliveries": secret, payload and expected signature
    headers = {
        "X-Hub-Signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    }
    verify(
        Provider.GITHUB,
        headers,
        b"Hello, World!",
        keys(Provider.GITHUB, "It's a Secret to Everybody"),
        now=0,
        tolerance=300,
    )


def test_slack_documentation_vector() -> None:
    # api.slack.com "Verifying requests from Slack" worked example
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect"
        b"&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F"
        b"96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    headers = {
        "X-Slack-Request-Timestamp": "1531420618",
        "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    }
    verify(
        Provider.SLACK,
        headers,
        body,
        keys(Provider.SLACK, "8f742231b10e8888abcd99yyyzzz85a5"),
        now=1531420618 + 10,
        tolerance=300,
    )


def test_standard_webhooks_vector() -> None:
    # the Standard Webhooks reference libraries' test vector
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    k = keys(Provider.STANDARD, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    verify(Provider.STANDARD, headers, b'{"test": 2432232314}', k, now=1614265330, tolerance=300)
    svix = {k.replace("webhook", "svix"): v for k, v in headers.items()}
    verify(Provider.STANDARD, svix, b'{"test": 2432232314}', k, now=1614265330, tolerance=300)


def test_stripe_signed_payload_is_timestamp_dot_body() -> None:
    secret, body, ts = "whsec_test", b'{"id":"evt_1"}', 1700000000
    v1 = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    header = {"Stripe-Signature": f"t={ts},v1={'0' * 64},v1={v1},v0=deadbeef"}
    verify(Provider.STRIPE, header, body, keys(Provider.STRIPE, secret), now=ts, tolerance=300)


def test_shopify_is_base64_of_body_hmac() -> None:
    digest = hmac.new(b"shpss", b'{"a":1}', hashlib.sha256).digest()
    header = {"X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode()}
    verify(
        Provider.SHOPIFY, header, b'{"a":1}', keys(Provider.SHOPIFY, "shpss"), now=0, tolerance=1
    )


@pytest.mark.parametrize(
    "spec",
    [
        HmacSpec(header="X-Sig", algorithm="sha1", encoding="hex"),
        HmacSpec(header="X-Sig", algorithm="sha512", encoding="base64"),
        HmacSpec(header="X-Sig", algorithm="sha256", encoding="hex", prefix="sha256="),
    ],
)
def test_generic_hmac(spec: HmacSpec) -> None:
    digest = hmac.new(b"k", b"[1]", spec.algorithm).digest()
    text = digest.hex() if spec.encoding == "hex" else base64.b64encode(digest).decode()
    verify(
        Provider.HMAC,
        {"X-Sig": spec.prefix + text},
        b"[1]",
        keys(Provider.HMAC, "k"),
        now=0,
        tolerance=1,
        hmac_spec=spec,
    )
    with pytest.raises(SignatureError):
        verify(
            Provider.HMAC,
            {"X-Sig": spec.prefix + text},
            b"[2]",
            keys(Provider.HMAC, "k"),
            now=0,
            tolerance=1,
            hmac_spec=spec,
        )


@pytest.mark.parametrize("provider", [Provider.STRIPE, Provider.SLACK, Provider.STANDARD])
@pytest.mark.parametrize(("skew", "message"), [(-301, "older"), (301, "future")])
def test_timestamp_outside_tolerance(provider: Provider, skew: int, message: str) -> None:
    secret = "whsec_c2VjcmV0LWtleS0x" if provider is Provider.STANDARD else "secret"
    now = 1_700_000_000
    headers = sign(provider, secret, b"{}", timestamp=now + skew, delivery_id="d1")
    with pytest.raises(SignatureError, match=message):
        verify(provider, headers, b"{}", keys(provider, secret), now=now, tolerance=300)
    verify(provider, headers, b"{}", keys(provider, secret), now=now + skew, tolerance=300)


def test_any_of_several_keys_is_accepted() -> None:
    headers = sign(Provider.GITHUB, "new", b"{}", timestamp=0)
    verify(Provider.GITHUB, headers, b"{}", keys(Provider.GITHUB, "old", "new"), now=0, tolerance=1)
    with pytest.raises(SignatureError, match="does not match"):
        verify(Provider.GITHUB, headers, b"{}", keys(Provider.GITHUB, "old"), now=0, tolerance=1)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing X-Hub-Signature-256"),
        ({"X-Hub-Signature-256": "md5=00"}, "must start with sha256="),
        ({"X-Hub-Signature-256": "sha256=zz"}, "not hex"),
    ],
)
def test_malformed_github_headers(headers: dict[str, str], message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        verify(Provider.GITHUB, headers, b"{}", keys(Provider.GITHUB, "k"), now=0, tolerance=1)


def test_standard_secret_must_be_base64() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        prepare_keys(Provider.STANDARD, ["whsec_not base64!"])


def test_stripe_ignores_v1_entries_that_are_not_hex() -> None:
    """Stripe's libraries accept a header whose valid v1 sits next to a malformed one."""
    body = b'{"id":"evt_1"}'
    good = sign(Provider.STRIPE, "sk", body, timestamp=1000)["Stripe-Signature"]
    t, v1 = good.split(",")
    for header in (f"{t},v1=not-hex!,{v1}", f"{t},{v1},v1=zz", f"{t},v0=abc,v1=,{v1}"):
        verify(
            Provider.STRIPE,
            {"Stripe-Signature": header},
            body,
            keys(Provider.STRIPE, "sk"),
            now=1000,
            tolerance=300,
        )
    with pytest.raises(SignatureError, match="no hex v1"):
        verify(
            Provider.STRIPE,
            {"Stripe-Signature": f"{t},v1=zz"},
            body,
            keys(Provider.STRIPE, "sk"),
            now=1000,
            tolerance=300,
        )
    with pytest.raises(SignatureError, match="does not match"):
        verify(
            Provider.STRIPE,
            {"Stripe-Signature": f"{t},v1=zz,v1={'ab' * 32}"},
            body,
            keys(Provider.STRIPE, "sk"),
            now=1000,
            tolerance=300,
        )


TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_FORM = (
    b"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234"
    b"&From=%2B14158675309&To=%2B18005551212"
)


def test_twilio_documentation_vector() -> None:
    # twilio.com "Webhooks security": auth token 12345, this URL and these parameters
    headers = {"X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="}
    k = keys(Provider.TWILIO, "12345")
    verify(Provider.TWILIO, headers, TWILIO_FORM, k, now=0, tolerance=1, url=TWILIO_URL, form=True)
    # the port Twilio may or may not have signed: both forms are accepted
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    verify(Provider.TWILIO, headers, TWILIO_FORM, k, now=0, tolerance=1, url=with_port, form=True)
    for url, body in (
        ("https://mycompany.com/myapp.php?foo=1&bar=3", TWILIO_FORM),
        ("http://mycompany.com/myapp.php?foo=1&bar=2", TWILIO_FORM),
        (TWILIO_URL, TWILIO_FORM + b"&Extra=1"),
    ):
        with pytest.raises(SignatureError, match="does not match"):
            verify(Provider.TWILIO, headers, body, k, now=0, tolerance=1, url=url, form=True)


def test_twilio_json_body_is_bound_by_body_sha256() -> None:
    body = b'{"event":"delivered"}'
    url = "https://hooks.example.com/ingest/sms?bodySHA256=" + hashlib.sha256(body).hexdigest()
    headers = sign(Provider.TWILIO, "tok", body, timestamp=0, url=url)
    k = keys(Provider.TWILIO, "tok")
    verify(Provider.TWILIO, headers, body, k, now=0, tolerance=1, url=url)
    with pytest.raises(SignatureError, match="bodySHA256 does not match"):
        verify(Provider.TWILIO, headers, b'{"event":"failed"}', k, now=0, tolerance=1, url=url)
    with pytest.raises(SignatureError, match="needs bodySHA256"):
        verify(
            Provider.TWILIO,
            headers,
            body,
            k,
            now=0,
            tolerance=1,
            url="https://hooks.example.com/ingest/sms",
        )
