"""Persistence: table definitions, migrations, and one driver per database."""

from __future__ import annotations

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from conveyor.errors import ConfigurationError
from conveyor.store.base import Driver


def normalize_url(url: str) -> str:
    """Accept the URLs people write (``postgresql://``, ``postgres://``) and pick our drivers."""
    try:
        u = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(f"invalid database URL {url!r}: {exc}") from None
    backend = u.get_backend_name()
    if backend in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    elif backend == "sqlite":
        if u.database in (None, "", ":memory:"):
            raise ConfigurationError(
                "SQLite needs a file (e.g. sqlite:///conveyor.db): an in-memory database is not shared "
                "between the worker processes"
            )
        u = u.set(drivername="sqlite")
    else:
        raise ConfigurationError(f"unsupported database {backend!r}: use sqlite:///FILE or postgresql://…")
    return u.render_as_string(hide_password=False)


def open_driver(url: str, *, synchronous_commit: bool = True) -> Driver:
    """Create the engine and driver for ``url``. Opens no connection until one is needed."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        from conveyor.store.sqlite import BUSY_TIMEOUT_S, SQLiteDriver, configure_engine

        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False})
        configure_engine(engine)
        return SQLiteDriver(engine)
    try:
        import psycopg  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the installation
        raise ConfigurationError("PostgreSQL support needs psycopg: pip install 'conveyor[postgres]'") from None
    from conveyor.store.postgres import PostgresDriver

    engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    return PostgresDriver(engine, synchronous_commit=synchronous_commit)
