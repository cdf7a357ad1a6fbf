"""Results-store fixtures: every store test runs on SQLite and on a real PostgreSQL server.

The PostgreSQL server is started here, once per test process, from the Debian package's binaries
(``scripts/install-system-packages.sh``, run by the README's test command and so by ``.ci/run``, installs them): a new
cluster in a temporary folder, listening on 127.0.0.1 only, on a free port, stopped and removed at the end. Each
test gets a database of its own. ``PHANTOMQC_TEST_PG=postgresql://...`` uses an existing server instead.
The PostgreSQL cases skip, saying why, only when no server can be started.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(cands[0]).parent if cands else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    def __init__(self) -> None:
        self.url = os.environ.get("PHANTOMQC_TEST_PG", "")
        self.reason = ""
        self._dir: str | None = None
        self._run_as: list[str] = []
        if self.url:
            return
        bindir = _pg_bin()
        if bindir is None:
            self.reason = ("no PostgreSQL server binaries (initdb) on this machine; scripts/install-system-packages.sh "
                           "installs the Debian package")
            return
        self._dir = tempfile.mkdtemp(prefix="phantomqc-pg-")
        data, sock = Path(self._dir) / "data", Path(self._dir) / "sock"
        sock.mkdir()
        if os.geteuid() == 0:  # initdb refuses to run as root: run the server as the package's postgres user
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                self.reason = "running as root and there is no 'postgres' user to run the server as"
                return
            os.chown(self._dir, pw.pw_uid, pw.pw_gid)
            os.chown(sock, pw.pw_uid, pw.pw_gid)
            runuser = shutil.which("runuser")
            self._run_as = [runuser, "-u", "postgres", "--"] if runuser else ["su", "postgres", "-s", "/bin/sh", "-c"]
        port = _free_port()
        self._pg_ctl = str(bindir / "pg_ctl")
        self._data = str(data)
        try:
            self._call([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                        "--no-sync"])
            self._call([self._pg_ctl, "-D", str(data), "-w", "-t", "60", "-l", str(Path(self._dir) / "log"),
                        "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off", "start"])
        except (OSError, subprocess.CalledProcessError) as exc:
            log = Path(self._dir) / "log"
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            self.reason = f"could not start PostgreSQL from {bindir}: {exc} {tail}"
            return
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _call(self, argv: list[str]) -> None:
        if self._run_as and self._run_as[-1] == "-c":  # su -c takes one string
            import shlex

            argv = self._run_as + [" ".join(shlex.quote(a) for a in argv)]
        else:
            argv = self._run_as + argv
        subprocess.run(argv, check=True, capture_output=True, timeout=120)

    def new_database(self) -> str:
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url.replace("postgresql://", "postgresql://", 1), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + "/" + name

    def stop(self) -> None:
        if self._dir:
            try:
                self._call([self._pg_ctl, "-D", self._data, "-m", "immediate", "stop"])
            except (OSError, subprocess.CalledProcessError):
                pass
            shutil.rmtree(self._dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server():
    server = _Server()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty results-store URL on each back end."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    server = request.getfixturevalue("pg_server")
    if not server.url:
        pytest.skip(f"PostgreSQL: {server.reason}")
    return server.new_database()
