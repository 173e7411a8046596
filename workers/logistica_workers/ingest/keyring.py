"""A source's signing keys, re-read when the mounted Secret changes (rotation without restart).

The kubelet refreshes a mounted Secret by swapping the ``..data`` symlink; a cheap fingerprint
of the directory (names, sizes, mtimes, link target) is compared every ``interval`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from logistica_workers.api.ingest_config import IngestSource
from logistica_workers.ingest.providers import prepare_keys
from logistica_workers.ingest.signatures import Keys

log = logging.getLogger("logistica.ingest.keys")


def _read_dir(directory: Path) -> dict[str, str]:
    keys = {}
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        keys[entry.name] = entry.read_text()
    return keys


def _fingerprint(directory: Path) -> tuple[object, ...]:
    try:
        link = os.readlink(directory / "..data") if (directory / "..data").is_symlink() else ""
        entries = tuple(
            (e.name, e.stat().st_size, e.stat().st_mtime_ns)
            for e in sorted(directory.iterdir())
            if not e.name.startswith(".") and e.is_file()
        )
    except OSError:
        return ("missing",)
    return (link, entries)


class KeyRing:
    def __init__(self, source: IngestSource) -> None:
        self.source = source
        self.keys = Keys(())
        self.error: str | None = None
        self._fp: tuple[object, ...] | None = None
        self.reload()

    @property
    def directory(self) -> Path | None:
        return Path(self.source.secret_dir) if self.source.secret_dir else None

    def reload(self) -> bool:
        """Load the keys if they changed; True when they did."""
        directory = self.directory
        if directory is None:
            if self._fp is None:
                self._load(self.source.keys or {})
                self._fp = ("inline",)
                return True
            return False
        fp = _fingerprint(directory)
        if fp == self._fp:
            return False
        self._fp = fp
        try:
            values = _read_dir(directory)
        except OSError as exc:
            self._set_error(f"cannot read secret directory: {exc.strerror}")
            return True
        self._load(values)
        log.info(
            "signing keys loaded", extra={"source": self.source.name, "key_names": sorted(values)}
        )
        return True

    def _load(self, values: dict[str, str]) -> None:
        if not values:
            self._set_error("the Secret has no keys")
            return
        try:
            self.keys = prepare_keys(self.source.spec.provider, list(values.values()))
            self.error = None
        except ValueError as exc:
            self._set_error(str(exc))

    def _set_error(self, message: str) -> None:
        self.keys = Keys(())
        self.error = message
        log.error("signing keys unusable", extra={"source": self.source.name, "error": message})

    async def watch(self, interval: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval)
            self.reload()
