"""Feed cursors: ``"<tx>-<id>"``, the inserting transaction id and the row id.

The feed is ordered by (tx, id). A cursor means "everything up to and including this row";
reading ``after`` it returns rows with a greater (tx, id). ``0-0`` is the beginning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CURSOR = re.compile(r"^(\d{1,20})-(\d{1,19})$")
_MAX_TX = 2**64 - 1
_MAX_ID = 2**63 - 1


class CursorError(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Cursor:
    tx: int
    id: int

    def __str__(self) -> str:
        return f"{self.tx}-{self.id}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """A cursor from its string form; CursorError says what is wrong."""
        m = _CURSOR.match(text)
        if not m:
            raise CursorError(
                f"a cursor is two numbers joined by '-' (as returned by the feed), got {text!r}"
            )
        tx, row = int(m.group(1)), int(m.group(2))
        if tx > _MAX_TX or row > _MAX_ID:
            raise CursorError(f"cursor {text!r} is out of range")
        return cls(tx, row)


START = Cursor(0, 0)
