"""Times in a routing problem: integer seconds from the plan's time zero, or RFC 3339 strings.

``Problem.startTime`` is time zero. Every other time field takes either form; an RFC 3339
value needs ``startTime`` (to become seconds). Answers use seconds when the problem has no
``startTime``, else RFC 3339 in ``startTime``'s offset.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, Field, StrictInt, StrictStr, WithJsonSchema

MAX_SECONDS = 31 * 86400  # a plan spans at most a month from its time zero

# RFC 3339 date-time with a zone (Z or +hh:mm); fractions of a second allowed.
RFC3339 = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})$"
)
_RFC3339 = re.compile(RFC3339)

TIME_DESCRIPTION = (
    "seconds from the plan's startTime (0-2678400), or an RFC 3339 time with a zone "
    "(needs startTime)"
)


def _valid_stamp(text: str) -> str:
    parse_stamp(text)
    return text


def parse_stamp(text: str) -> datetime:
    """An RFC 3339 string as an aware datetime; ValueError naming the problem otherwise."""
    if not _RFC3339.match(text):
        raise ValueError(f"{text!r} is not an RFC 3339 time with a zone")
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid time: {exc}") from None


def is_stamp(value: int | str) -> bool:
    return isinstance(value, str)


def to_seconds(value: int | str, zero: datetime | None) -> int:
    """Seconds from time zero (negative for a time before it); RFC 3339 needs ``zero``."""
    if isinstance(value, int):
        return value
    if zero is None:
        raise ValueError("an RFC 3339 time needs the problem's startTime")
    delta = parse_stamp(value) - zero
    return int(delta // timedelta(seconds=1))


def render(seconds: float, zero: datetime | None) -> int | str:
    """An answer's time: seconds without a time zero, else RFC 3339 in its offset."""
    if zero is None:
        return round(seconds)
    stamp = zero + timedelta(seconds=round(seconds))
    if stamp.utcoffset() == timedelta(0):
        return stamp.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return stamp.isoformat()


def _valid_time(value: int | str) -> int | str:
    if isinstance(value, int):
        if not 0 <= value <= MAX_SECONDS:
            raise ValueError(f"{value} is out of range: give {TIME_DESCRIPTION}")
        return value
    if len(value) > 40 or not _RFC3339.match(value):
        raise ValueError(f"{value[:40]!r} is not a time: give {TIME_DESCRIPTION}")
    return _valid_stamp(value)


Stamp = Annotated[str, Field(pattern=RFC3339, max_length=40), AfterValidator(_valid_stamp)]
TimeValue = Annotated[
    StrictInt | StrictStr,
    AfterValidator(_valid_time),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": MAX_SECONDS},
                {"type": "string", "maxLength": 40, "pattern": RFC3339},
            ]
        }
    ),
]
