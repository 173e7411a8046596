"""The sender's side of each scheme: used by ``logistica dev`` to print a working curl, and by
tests and benchmarks to send correctly signed requests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from urllib.parse import parse_qsl

from logistica_workers.api.webhook_source import HmacSpec, Provider
from logistica_workers.ingest.signatures import prepare_keys


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
    delivery_id = delivery_id or str(uuid.uuid4())
    key = prepare_keys(provider, [secret]).raw[0]
    ts = str(timestamp)

    def mac(msg: bytes, algorithm: str = "sha256") -> bytes:
        return hmac.new(key, msg, getattr(hashlib, algorithm)).digest()

    headers = {"Content-Type": "application/json"}
    if provider is Provider.GITHUB:
        headers["X-Hub-Signature-256"] = "sha256=" + mac(body).hex()
        headers["X-GitHub-Delivery"] = delivery_id
        headers["X-GitHub-Event"] = "push"
    elif provider is Provider.STRIPE:
        headers["Stripe-Signature"] = f"t={ts},v1={mac(ts.encode() + b'.' + body).hex()}"
    elif provider is Provider.SHOPIFY:
        headers["X-Shopify-Hmac-Sha256"] = base64.b64encode(mac(body)).decode()
        headers["X-Shopify-Webhook-Id"] = delivery_id
    elif provider is Provider.SLACK:
        headers["X-Slack-Request-Timestamp"] = ts
        headers["X-Slack-Signature"] = "v0=" + mac(f"v0:{ts}:".encode() + body).hex()
    elif provider is Provider.STANDARD:
        sig = base64.b64encode(mac(f"{delivery_id}.{ts}.".encode() + body)).decode()
        headers.update(
            {"webhook-id": delivery_id, "webhook-timestamp": ts, "webhook-signature": f"v1,{sig}"}
        )
    elif provider is Provider.TWILIO:
        data = url
        if form:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            params: dict[str, set[str]] = {}
            for name, value in parse_qsl(body.decode(), keep_blank_values=True):
                params.setdefault(name, set()).add(value)
            data += "".join(n + v for n in sorted(params) for v in sorted(params[n]))
        headers["X-Twilio-Signature"] = base64.b64encode(mac(data.encode(), "sha1")).decode()
        headers["I-Twilio-Idempotency-Token"] = delivery_id
    else:
        assert hmac_spec is not None
        raw = mac(body, hmac_spec.algorithm)
        text = raw.hex() if hmac_spec.encoding == "hex" else base64.b64encode(raw).decode()
        headers[hmac_spec.header] = hmac_spec.prefix + text
    return headers
