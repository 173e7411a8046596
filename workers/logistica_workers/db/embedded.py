"""A real PostgreSQL server in a local directory, for ``logistica dev`` and the test suite.

Uses the server binaries on this machine (Debian's ``postgresql`` package, or ``$LOGISTICA_PG_BIN``).
PostgreSQL refuses to run as root; as root the server runs as the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
from pathlib import Path

from logistica_workers.runtime.settings import env_optional


class EmbeddedPostgresError(RuntimeError):
    pass


def find_bindir() -> Path:
    """Directory holding initdb/pg_ctl/postgres."""
    explicit = env_optional("LOGISTICA_PG_BIN")
    if explicit:
        return Path(explicit)
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    if candidates:
        return Path(candidates[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise EmbeddedPostgresError(
        "no PostgreSQL server binaries found: install Debian's 'postgresql' package "
        "or set LOGISTICA_PG_BIN to the directory holding initdb and pg_ctl"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedPostgres:
    """Owns one data directory; ``start()`` creates it on first use and returns a DSN."""

    def __init__(
        self,
        root: Path,
        port: int | None = None,
        fsync: bool = True,
        listen_addresses: str = "127.0.0.1",
        trusted_networks: tuple[str, ...] = (),
    ) -> None:
        """``listen_addresses`` as in postgresql.conf; clients from ``trusted_networks``
        (CIDRs) are let in without a password like local ones (e.g. a test node's pods)."""
        self.root = root
        self.listen_addresses = listen_addresses
        self.trusted_networks = trusted_networks
        self.data = root / "data"
        self.port = port or free_port()
        self.fsync = fsync
        self.bindir = find_bindir()
        self._user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError as exc:
                raise EmbeddedPostgresError(
                    "running as root needs a 'postgres' system user (Debian's postgresql "
                    "package creates it)"
                ) from exc
            self._user = "postgres"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        proc = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            user=self._user,
            group=self._user,
            extra_groups=[] if self._user else None,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise EmbeddedPostgresError(
                f"{args[0]} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
            )

    def _prepare_dirs(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self._user:
            # the server user must reach its directory through every parent
            pw = pwd.getpwnam(self._user)
            for parent in [self.root, *self.root.parents]:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    parent.chmod(mode | 0o001)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)

    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def start(self) -> str:
        self._prepare_dirs()
        if not self.initialised():
            self._run(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-instructions",
                *([] if self.fsync else ["--no-sync"]),
            )
            with (self.data / "pg_hba.conf").open("a") as hba:
                for cidr in self.trusted_networks:
                    hba.write(f"host all all {cidr} trust\n")
        opts = (
            f"-p {self.port} -c listen_addresses='{self.listen_addresses}' -k {self.root}"
            f" -c fsync={'on' if self.fsync else 'off'} -c max_connections=300"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            opts,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        return self.dsn

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
