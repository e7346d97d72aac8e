"""A throwaway PostgreSQL for tests: Debian's server binaries, a fresh cluster in a temporary folder, trust auth on
127.0.0.1 only, run as the ``postgres`` user (the server refuses root). ``skip_reason()`` says why it cannot run.

    with PostgresServer() as pg:
        pg.url      # "host=127.0.0.1 port=... dbname=postgres user=ganpaint"
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def skip_reason() -> str | None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary]')"
    if _bin("initdb") is None or _bin("pg_ctl") is None:
        return "PostgreSQL server binaries are not installed (apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run the server"
    return None


class PostgresServer:
    def __init__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.root = tempfile.mkdtemp(prefix="ganpaint-pg-")
        self.data = os.path.join(self.root, "data")
        self.url = f"host=127.0.0.1 port={self.port} dbname=postgres user=ganpaint connect_timeout=5"

    def _run(self, *cmd: str, timeout: float = 60) -> None:
        if os.geteuid() == 0:  # the server refuses root: run as the postgres user
            cmd = ("runuser", "-u", "postgres", "--", *cmd)
        subprocess.run(cmd, check=True, capture_output=True, timeout=timeout)

    def __enter__(self) -> PostgresServer:
        if os.geteuid() == 0:
            os.chmod(self.root, 0o777)
        self._run(_bin("initdb"), "-D", self.data, "-A", "trust", "-U", "ganpaint", "--no-sync", "-E", "UTF8")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = os.path.join(self.root, "server.log")
        self._run(_bin("pg_ctl"), "-D", self.data, "-o", options, "-l", log, "-w", "-t", "60", "start", timeout=90)
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._run(_bin("pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop", timeout=30)
        finally:
            time.sleep(0.1)
            shutil.rmtree(self.root, ignore_errors=True)
