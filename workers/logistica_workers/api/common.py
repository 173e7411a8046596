"""Base model and error formatting shared by every API model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

API_GROUP = "logistica.dev"
API_VERSION = "v1alpha1"

DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
HTTP_TOKEN = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"
OBJECT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class ValidationFailure(ValueError):
    """A model did not validate; ``errors`` are ``(field path, message)`` pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{path}: {msg}" if path else msg for path, msg in errors))


def describe_errors(exc: ValidationError, prefix: str = "") -> ValidationFailure:
    """Turn pydantic's errors into field paths like ``spec.stops[3].lat``."""
    out: list[tuple[str, str]] = []
    for err in exc.errors():
        path = prefix
        for part in err["loc"]:
            if isinstance(part, int):
                path += f"[{part}]"
            else:
                path = f"{path}.{part}" if path else str(part)
        msg = err["msg"].removeprefix("Value error, ")
        out.append((path, msg))
    return ValidationFailure(out)
