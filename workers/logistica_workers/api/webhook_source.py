"""WebhookSource spec: which provider signs the webhooks and how they are checked."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from logistica_workers.api.common import DNS_SUBDOMAIN, HTTP_TOKEN, ApiModel


class Provider(StrEnum):
    GITHUB = "github"
    STRIPE = "stripe"
    SHOPIFY = "shopify"
    SLACK = "slack"
    STANDARD = "standard"
    HMAC = "hmac"
    TWILIO = "twilio"


class SecretRef(ApiModel):
    name: Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]


class HmacSpec(ApiModel):
    header: Annotated[str, Field(min_length=1, max_length=128, pattern=HTTP_TOKEN)]
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: Annotated[str, Field(max_length=32)] = ""


class IdempotencyKey(ApiModel):
    header: Annotated[str | None, Field(min_length=1, max_length=128, pattern=HTTP_TOKEN)] = None
    json_pointer: Annotated[str | None, Field(max_length=256, pattern=r"^(/([^~/]|~[01])*)+$")] = (
        None
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> IdempotencyKey:
        if (self.header is None) == (self.json_pointer is None):
            raise ValueError(
                "exactly one of idempotencyKey.header and idempotencyKey.jsonPointer must be set"
            )
        return self


class GzipSpec(ApiModel):
    """Opt-in to ``Content-Encoding: gzip`` bodies, and which bytes the provider signed."""

    signed_body: Literal["inflated", "compressed"] = "inflated"


Quantity = (
    int
    | Annotated[
        str,
        Field(
            pattern=r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
            r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
        ),
    ]
)


class Resources(ApiModel):
    limits: dict[str, Quantity] | None = None
    requests: dict[str, Quantity] | None = None


class WebhookSourceSpec(ApiModel):
    provider: Provider
    secret_ref: SecretRef
    hmac: HmacSpec | None = None
    idempotency_key: IdempotencyKey | None = None
    tolerance_seconds: Annotated[int, Field(ge=1, le=86400)] = 300
    max_body_bytes: Annotated[int, Field(ge=1, le=64 * 1024 * 1024)] = 1024 * 1024
    replicas: Annotated[int, Field(ge=0, le=100)] = 2
    termination_grace_period_seconds: Annotated[int, Field(ge=5, le=3600)] = 30
    resources: Resources | None = None
    gzip: GzipSpec | None = None
    replay_window_seconds: Annotated[int, Field(ge=0, le=7 * 86400)] = 0
    public_url: (
        Annotated[str, Field(min_length=8, max_length=2048, pattern=r"^https?://[^\s?#]+$")] | None
    ) = None

    @model_validator(mode="after")
    def _hmac_only_for_hmac(self) -> WebhookSourceSpec:
        if (self.provider is Provider.HMAC) != (self.hmac is not None):
            raise ValueError(
                "spec.hmac is required when provider is 'hmac' and not allowed for any other provider"
            )
        return self

    @model_validator(mode="after")
    def _public_url_only_for_twilio(self) -> WebhookSourceSpec:
        if self.public_url is not None and self.provider is not Provider.TWILIO:
            raise ValueError("spec.publicUrl is only used (and allowed) with provider 'twilio'")
        return self
