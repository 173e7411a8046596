"""The providers table: one entry per signature scheme with everything the worker knows about
it — how a request is verified and signed, where its delivery id is, which of its headers are
stored with the event, whether it sends form bodies, and how a secret becomes a key.

Adding a provider is one entry here (plus its ``Provider`` value, CRD enum and check)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from logistica_workers.api.webhook_source import HmacSpec, Provider
from logistica_workers.ingest import signatures as check
from logistica_workers.ingest import signing
from logistica_workers.ingest.signatures import Inbound, Keys, SignatureError
from logistica_workers.ingest.signing import Outbound

#: stored for every provider (lower-case names; never signatures, cookies or authorization)
COMMON_HEADERS = ("content-type", "user-agent", "content-encoding")


def _header(*names: str) -> Callable[[Mapping[str, str], Any], Any]:
    """The delivery id is the first of these headers that is set."""

    def read(headers: Mapping[str, str], _doc: Any) -> Any:
        return next((headers[n] for n in names if headers.get(n)), None)

    return read


def _field(name: str) -> Callable[[Mapping[str, str], Any], Any]:
    """The delivery id is this top-level field of the JSON body."""

    def read(_headers: Mapping[str, str], doc: Any) -> Any:
        return doc.get(name) if isinstance(doc, dict) else None

    return read


def _none(_headers: Mapping[str, str], _doc: Any) -> Any:
    return None


def _utf8(secret: str) -> bytes:
    return secret.encode()


@dataclass(frozen=True)
class Scheme:
    verify: Callable[[Inbound, Keys], None]  # raises SignatureError
    sign: Callable[[Outbound, bytes], dict[str, str]]
    #: the sender's delivery id (a str or int), or None: the body's SHA-256 stands in
    delivery_id: Callable[[Mapping[str, str], Any], Any]
    headers: tuple[str, ...] = ()  # stored with the event, besides COMMON_HEADERS
    form_bodies: bool = False  # also accepts application/x-www-form-urlencoded
    key: Callable[[str], bytes] = _utf8  # a Secret value as the HMAC key


SCHEMES: Mapping[Provider, Scheme] = {
    Provider.GITHUB: Scheme(
        check.verify_github,
        signing.sign_github,
        _header("X-GitHub-Delivery"),
        ("x-github-event", "x-github-delivery", "x-github-hook-id"),
    ),
    Provider.STRIPE: Scheme(check.verify_stripe, signing.sign_stripe, _field("id")),
    Provider.SHOPIFY: Scheme(
        check.verify_shopify,
        signing.sign_shopify,
        _header("X-Shopify-Webhook-Id"),
        ("x-shopify-topic", "x-shopify-shop-domain", "x-shopify-webhook-id", "x-shopify-event-id"),
    ),
    Provider.SLACK: Scheme(
        check.verify_slack,
        signing.sign_slack,
        _field("event_id"),
        ("x-slack-request-timestamp",),
        form_bodies=True,
    ),
    Provider.STANDARD: Scheme(
        check.verify_standard,
        signing.sign_standard,
        _header("webhook-id", "svix-id"),
        ("webhook-id", "webhook-timestamp", "svix-id", "svix-timestamp"),
        key=check.standard_key,
    ),
    Provider.TWILIO: Scheme(
        check.verify_twilio,
        signing.sign_twilio,
        _header("I-Twilio-Idempotency-Token"),
        ("i-twilio-idempotency-token",),
        form_bodies=True,
    ),
    Provider.HMAC: Scheme(check.verify_hmac, signing.sign_hmac, _none),
}


def prepare_keys(provider: Provider, values: Sequence[str]) -> Keys:
    """A source's Secret values as keys for its provider (once per (re)load)."""
    return Keys(tuple(SCHEMES[provider].key(v.strip()) for v in values))


def verify(
    provider: Provider,
    headers: Mapping[str, str],
    body: bytes,
    keys: Keys,
    *,
    now: float,
    tolerance: int,
    hmac_spec: HmacSpec | None = None,
    url: str = "",
    form: bool = False,
) -> None:
    """Raise SignatureError unless the request is signed by one of ``keys``. ``url`` (the URL the
    sender used) and ``form`` (a form-encoded body) matter to twilio only."""
    if not keys.raw:
        raise SignatureError("the source has no signing keys")
    SCHEMES[provider].verify(Inbound(headers, body, now, tolerance, hmac_spec, url, form), keys)


def sign(
    provider: Provider,
    secret: str,
    body: bytes,
    *,
    timestamp: int,
    delivery_id: str | None = None,
    hmac_spec: HmacSpec | None = None,
    url: str = "",
    form: bool = False,
) -> dict[str, str]:
    """Headers (signature and delivery id) that make ``body`` authentic for ``secret``.
    twilio signs ``url`` (with ``bodySHA256`` in its query for a JSON body) and form fields."""
    scheme = SCHEMES[provider]
    message = Outbound(body, str(timestamp), delivery_id or str(uuid.uuid4()), hmac_spec, url, form)
    return {"Content-Type": "application/json", **scheme.sign(message, scheme.key(secret.strip()))}


def stored_headers(
    provider: Provider, headers: Mapping[str, str], extra: str | None = None
) -> dict[str, str]:
    """The headers kept with an event: the common ones, the provider's, and ``extra`` (a
    configured idempotency-key header). Never signatures, cookies or authorization."""
    names = (*COMMON_HEADERS, *SCHEMES[provider].headers)
    if extra:
        names = (*names, extra.lower())
    return {n: _text(headers[n]) for n in names if n in headers}


def _text(value: str) -> str:
    """Header bytes that are not UTF-8 (kept by aiohttp as surrogate escapes) as U+FFFD."""
    if value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
