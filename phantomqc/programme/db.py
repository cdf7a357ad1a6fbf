"""Where the results store lives and how it is opened.

- ``PHANTOMQC_DB`` selects the database: a SQLAlchemy URL (``postgresql://user@host/db``, ``sqlite:///path``) or a
  plain file path (SQLite).
- Without it, the store is the SQLite file ``phantomqc.db`` in ``$PHANTOMQC_HOME``, else in
  ``$XDG_DATA_HOME/phantomqc``, else in ``~/.local/share/phantomqc``.

SQLite is opened in WAL mode (readers never wait for the writer) with a 60 s busy timeout, foreign keys on,
and every transaction started with ``BEGIN IMMEDIATE``: a write transaction takes the write lock at its start,
so two processes never both read and then both try to upgrade to writing (the case where SQLite gives up with
"database is locked" at once instead of waiting). ``postgresql://`` URLs use the psycopg 3 driver.

``open_engine`` upgrades the schema to the newest Alembic revision before returning.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

__all__ = ["default_url", "normalise_url", "open_engine", "upgrade", "SQLITE_BUSY_TIMEOUT_S"]

SQLITE_BUSY_TIMEOUT_S = 60.0


def _data_dir() -> Path:
    if os.environ.get("PHANTOMQC_HOME"):
        return Path(os.environ["PHANTOMQC_HOME"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "phantomqc"


def normalise_url(url: str) -> str:
    """A SQLAlchemy URL from a URL or a plain SQLite file path; ``postgresql://`` gets the psycopg 3 driver."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def default_url() -> str:
    """``PHANTOMQC_DB`` if set, else the SQLite file in the data folder (see the module docstring)."""
    env = os.environ.get("PHANTOMQC_DB", "").strip()
    if env:
        return normalise_url(env)
    return normalise_url(str(_data_dir() / "phantomqc.db"))


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001 - DB-API objects
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def open_engine(url: str | None = None, *, migrate: bool = True, echo: bool = False) -> Engine:
    """An engine on ``url`` (default: ``default_url()``), schema upgraded to the newest revision."""
    url = normalise_url(url) if url else default_url()
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        _sqlite_setup(engine)
    else:
        engine = create_engine(url, echo=echo, pool_pre_ping=True)
    if migrate:
        upgrade(engine)
    return engine


def _alembic_config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations up to ``revision`` on ``engine``."""
    from alembic import command

    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
