"""A throwaway PostgreSQL server for tests and benchmarks of the Connect API: initdb into a temp
dir, ``wal_level = logical``, a free port on 127.0.0.1, stopped by its pid.

As root, postgres refuses to run, so the server then runs as the ``postgres`` user in a directory
it owns. Needs Debian's ``postgresql`` and ``postgresql-15-wal2json`` (binaries are looked up under
/usr/lib/postgresql/*/bin) and psycopg.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from typing import Any

from kraft.testing.local_cluster import free_ports, wait_for


class PostgresUnavailable(RuntimeError):
    """The binaries, the wal2json plugin or psycopg are missing; the message says which."""


def find_bindir() -> str:
    for path in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(path, "initdb")):
            libdir = os.path.join(os.path.dirname(path), "lib")
            if not os.path.exists(os.path.join(libdir, "wal2json.so")):
                raise PostgresUnavailable(f"the wal2json output plugin is not in {libdir}")
            return path
    raise PostgresUnavailable("no initdb under /usr/lib/postgresql/*/bin")


class PostgresServer:
    def __init__(self) -> None:
        self.bindir = find_bindir()
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise PostgresUnavailable("psycopg is not installed (pip install -e '.[dev]')") from None
        self.root = tempfile.mkdtemp(prefix="kraft-pg-")
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30) -> None:
        data = os.path.join(self.root, "data")
        run_as: dict[str, Any] = {}
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            run_as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        subprocess.run([os.path.join(self.bindir, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
                        "-E", "UTF8", "--no-sync"], check=True, capture_output=True, cwd=self.root, **run_as)
        self.port = free_ports(1)[0]
        with open(os.path.join(self.root, "server.log"), "wb") as log:
            self.proc = subprocess.Popen(
                [os.path.join(self.bindir, "postgres"), "-D", data, "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}",
                 "-c", "wal_level=logical", "-c", "max_replication_slots=20", "-c", "max_wal_senders=20",
                 # A test server: durability across power loss is not what is being tested.
                 "-c", "fsync=off", "-c", "full_page_writes=off"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.root, **run_as)
        proc = self.proc

        def accepting() -> str:
            if proc.poll() is not None:
                return "exited"
            self.connect().close()  # raises until the server accepts (wait_for retries)
            return "up"

        if wait_for(accepting, timeout_s, "PostgreSQL accepting connections", interval_s=0.1) == "exited":
            with open(os.path.join(self.root, "server.log"), "rb") as f:
                tail = f.read()[-2000:].decode(errors="replace")
            raise RuntimeError(f"postgres exited with {proc.returncode} at start:\n{tail}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)  # "fast" shutdown
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} dbname={dbname} user=postgres connect_timeout=5"

    def connect(self, dbname: str = "postgres") -> Any:
        import psycopg
        return psycopg.connect(self.dsn(dbname), autocommit=True)

    def create_database(self, name: str) -> str:
        """A fresh, empty database ``name`` (dropped first, with any replication slot on it)."""
        with self.connect() as conn:
            for (slot,) in conn.execute("SELECT slot_name FROM pg_replication_slots WHERE database = %s",
                                        (name,)).fetchall():
                conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)
