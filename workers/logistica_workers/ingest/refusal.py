"""Why the worker refuses a request's body: an HTTP status, a machine code and a message."""

from __future__ import annotations


class PayloadError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
