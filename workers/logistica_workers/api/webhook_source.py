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
    name: Annotated[
        str,
        Field(
            min_length=1,
            max_length=253,
            pattern=DNS_SUBDOMAIN,
            description="Name of the Secret.",
        ),
    ]


class HmacSpec(ApiModel):
    header: Annotated[
        str,
        Field(
            min_length=1,
            max_length=128,
            pattern=HTTP_TOKEN,
            description="Request header that carries the signature.",
        ),
    ]
    algorithm: Annotated[
        Literal["sha1", "sha256", "sha512"], Field(description="Hash function of the HMAC.")
    ] = "sha256"
    encoding: Annotated[
        Literal["hex", "base64"], Field(description="How the digest is written in the header.")
    ] = "hex"
    prefix: Annotated[
        str,
        Field(
            max_length=32,
            description='Text before the signature in the header, e.g. "sha256=".',
        ),
    ] = ""


class IdempotencyKey(ApiModel):
    header: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=128,
            pattern=HTTP_TOKEN,
            description="Request header that carries the delivery id.",
        ),
    ] = None
    json_pointer: Annotated[
        str | None,
        Field(
            max_length=256,
            pattern=r"^(/([^~/]|~[01])*)+$",
            description="RFC 6901 pointer into the JSON body, e.g. /id.",
        ),
    ] = None

    @model_validator(mode="after")
    def _exactly_one(self) -> IdempotencyKey:
        if (self.header is None) == (self.json_pointer is None):
            raise ValueError(
                "exactly one of idempotencyKey.header and idempotencyKey.jsonPointer must be set"
            )
        return self


class GzipSpec(ApiModel):
    """Opt-in to ``Content-Encoding: gzip`` bodies, and which bytes the provider signed."""

    signed_body: Annotated[
        Literal["inflated", "compressed"],
        Field(description="Whether the provider signed the inflated body or the gzip bytes."),
    ] = "inflated"


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
    limits: Annotated[
        dict[str, Quantity] | None,
        Field(description="Most of each resource the container may use, e.g. memory: 256Mi."),
    ] = None
    requests: Annotated[
        dict[str, Quantity] | None,
        Field(description="Resources reserved for the container when it is scheduled."),
    ] = None


class WebhookSourceSpec(ApiModel):
    provider: Annotated[Provider, Field(description="Signature scheme of the sender.")]
    secret_ref: Annotated[
        SecretRef,
        Field(
            description="Secret in the same namespace; every key in it is an accepted signing "
            "key (rotation)."
        ),
    ]
    hmac: Annotated[
        HmacSpec | None, Field(description="Generic HMAC scheme; only with provider hmac.")
    ] = None
    idempotency_key: Annotated[
        IdempotencyKey | None,
        Field(
            description="Where the delivery id comes from; default is the provider's delivery id."
        ),
    ] = None
    tolerance_seconds: Annotated[
        int,
        Field(
            ge=1,
            le=86400,
            description="Replay window for timestamped schemes (stripe, slack, standard).",
        ),
    ] = 300
    max_body_bytes: Annotated[
        int,
        Field(
            ge=1,
            le=64 * 1024 * 1024,
            description="Largest body accepted (after inflating gzip); larger is 413.",
        ),
    ] = 1024 * 1024
    replicas: Annotated[
        int, Field(ge=0, le=100, description="Ingest worker pods for this source.")
    ] = 2
    termination_grace_period_seconds: Annotated[
        int,
        Field(
            ge=5,
            le=3600,
            description="Seconds a worker pod may take to drain and stop (its pods' "
            "terminationGracePeriodSeconds).",
        ),
    ] = 30
    resources: Annotated[
        Resources | None,
        Field(
            description="Compute resources of the worker container (core/v1 ResourceRequirements)."
        ),
    ] = None
    gzip: Annotated[
        GzipSpec | None,
        Field(
            description="Accept Content-Encoding gzip bodies (refused with 415 without this "
            "block). maxBodyBytes bounds the inflated size."
        ),
    ] = None
    replay_window_seconds: Annotated[
        int,
        Field(
            ge=0,
            le=7 * 86400,
            description="For schemes that sign no id or timestamp (github, shopify, hmac, "
            "twilio): a body already stored within this many seconds under another delivery id "
            "is a replay (200, not stored). 0 turns it off. Identical bodies sent on purpose "
            "within the window are dropped too.",
        ),
    ] = 0
    public_url: Annotated[
        str | None,
        Field(
            min_length=8,
            max_length=2048,
            pattern=r"^https?://[^\s?#]+$",
            description="twilio only: the URL configured at Twilio for this source (scheme, "
            "host, path), which Twilio signs. Without it the URL is rebuilt from "
            "X-Forwarded-Proto and X-Forwarded-Host, else from the request.",
        ),
    ] = None

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
