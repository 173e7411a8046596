"""How each provider signs a request (the sender's side): ``providers.sign`` picks one for
``logistica dev``'s sample curl, and for tests and benchmarks that send signed requests."""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass

from logistica_workers.api.webhook_source import HmacSpec
from logistica_workers.ingest.signatures import twilio_form_suffix


@dataclass(frozen=True)
class Outbound:
    """What a scheme signs: the body and what the sender adds around it."""

    body: bytes
    timestamp: str  # Unix seconds, as sent
    delivery_id: str
    hmac_spec: HmacSpec | None = None  # provider hmac only
    url: str = ""  # twilio: the URL it calls (with bodySHA256 in its query for a JSON body)
    form: bool = False  # twilio: a form-encoded body


def _mac(key: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.digest(key, message, algorithm)


def sign_github(m: Outbound, key: bytes) -> dict[str, str]:
    return {
        "X-Hub-Signature-256": "sha256=" + _mac(key, m.body).hex(),
        "X-GitHub-Delivery": m.delivery_id,
        "X-GitHub-Event": "push",
    }


def sign_stripe(m: Outbound, key: bytes) -> dict[str, str]:
    sig = _mac(key, m.timestamp.encode() + b"." + m.body).hex()
    return {"Stripe-Signature": f"t={m.timestamp},v1={sig}"}


def sign_shopify(m: Outbound, key: bytes) -> dict[str, str]:
    return {
        "X-Shopify-Hmac-Sha256": base64.b64encode(_mac(key, m.body)).decode(),
        "X-Shopify-Webhook-Id": m.delivery_id,
    }


def sign_slack(m: Outbound, key: bytes) -> dict[str, str]:
    sig = _mac(key, f"v0:{m.timestamp}:".encode() + m.body).hex()
    return {"X-Slack-Request-Timestamp": m.timestamp, "X-Slack-Signature": "v0=" + sig}


def sign_standard(m: Outbound, key: bytes) -> dict[str, str]:
    signed = f"{m.delivery_id}.{m.timestamp}.".encode() + m.body
    return {
        "webhook-id": m.delivery_id,
        "webhook-timestamp": m.timestamp,
        "webhook-signature": "v1," + base64.b64encode(_mac(key, signed)).decode(),
    }


def sign_twilio(m: Outbound, key: bytes) -> dict[str, str]:
    headers = {}
    data = m.url
    if m.form:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        data += twilio_form_suffix(m.body.decode())
    headers["X-Twilio-Signature"] = base64.b64encode(_mac(key, data.encode(), "sha1")).decode()
    headers["I-Twilio-Idempotency-Token"] = m.delivery_id
    return headers


def sign_hmac(m: Outbound, key: bytes) -> dict[str, str]:
    spec = m.hmac_spec
    assert spec is not None  # guaranteed by WebhookSourceSpec
    raw = _mac(key, m.body, spec.algorithm)
    text = raw.hex() if spec.encoding == "hex" else base64.b64encode(raw).decode()
    return {spec.header: spec.prefix + text}
