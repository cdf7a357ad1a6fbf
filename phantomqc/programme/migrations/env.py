"""Alembic environment of the phantomqc results store.

``phantomqc.programme.db.upgrade`` runs the migrations on an open connection (``config.attributes["connection"]``);
the ``alembic`` command line works too, with ``-x url=...`` or ``PHANTOMQC_DB``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from phantomqc.programme.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # pragma: no cover - the alembic command line
    from phantomqc.programme.db import default_url

    url = context.get_x_argument(as_dictionary=True).get("url") or default_url()
    with create_engine(url).connect() as conn:
        _run(conn)
