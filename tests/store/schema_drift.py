"""Compare the schema a migration history builds with the one its SQLAlchemy tables declare.

Both sides are read back from the database itself, never from SQLAlchemy's reflection (which is what lost
``priority DESC`` on SQLite, issue #18): one database is built by running the history, another by
``metadata.create_all``, and each is described from the catalog - on SQLite ``PRAGMA table_xinfo``,
``index_list``, ``index_xinfo`` (with each key column's ``desc`` flag and collation), ``foreign_key_list``
and the partial predicate from ``sqlite_master``; on PostgreSQL ``information_schema.columns``,
``pg_get_indexdef`` and ``pg_get_constraintdef``. Any difference is one line naming the object, what the
migrations build and what the tables declare.

Column order is not compared (a column added by a migration lands last, wherever the table declares it);
triggers and functions are not compared either (no ``Table`` declares them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.engine import Connection, Engine

from conveyor.store.migrate import MigrationHistory

#: Alembic version tables of every history (they exist only on the migrated side).
VERSION_TABLES = frozenset({"conveyor_alembic_version", "commerce_alembic_version"})


def schema_drift(
    metadatas: Iterable[MetaData], history: MigrationHistory, migrated_url: str, declared_url: str
) -> list[str]:
    """Run ``history`` on the empty database at ``migrated_url``, ``create_all`` every metadata on the empty
    database at ``declared_url``, and return the differences (empty when they match)."""
    migrated, declared = create_engine(migrated_url), create_engine(declared_url)
    try:
        history.upgrade(migrated)
        for md in metadatas:
            md.create_all(declared)
        return compare(describe(migrated), describe(declared))
    finally:
        migrated.dispose()
        declared.dispose()


def compare(migrated: dict[str, str], declared: dict[str, str]) -> list[str]:
    """One line per object that differs or exists on one side only."""
    lines = []
    for key in sorted(migrated.keys() | declared.keys()):
        built, wanted = migrated.get(key, "(missing)"), declared.get(key, "(missing)")
        if built != wanted:
            lines.append(f"{key}: migrations build {built}; tables declare {wanted}")
    return lines


def describe(engine: Engine) -> dict[str, str]:
    """Every table, column, index and constraint of the database, as ``{"index ix_x": "definition"}``."""
    with engine.connect() as c:
        return _describe_sqlite(c) if engine.dialect.name == "sqlite" else _describe_postgres(c)


def _squash(sql: str) -> str:
    return " ".join(sql.split())


def _unwrap(default: str | None) -> str | None:
    # SQLite keeps a default as written: "false" from CREATE TABLE, "(false)" from a batch rebuild.
    while default is not None and default.startswith("(") and default.endswith(")"):
        default = default[1:-1]
    return default


def _describe_sqlite(c: Connection) -> dict[str, str]:
    out: dict[str, str] = {}
    tables = c.execute(
        text("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    ).all()
    for table, create_sql in tables:
        if table in VERSION_TABLES:
            continue
        autoincrement = re.search(r"\bAUTOINCREMENT\b", create_sql, re.IGNORECASE) is not None
        out[f"table {table}"] = "AUTOINCREMENT" if autoincrement else "no AUTOINCREMENT"
        for _, name, type_, notnull, default, pk, _hidden in c.exec_driver_sql(f'PRAGMA table_xinfo("{table}")'):
            out[f"column {table}.{name}"] = (
                f"{type_}{' NOT NULL' if notnull else ''} DEFAULT {_unwrap(default)}{f' PK{pk}' if pk else ''}"
            )
        for fk in c.exec_driver_sql(f'PRAGMA foreign_key_list("{table}")'):
            _, seq, ref, col, ref_col, on_update, on_delete, _match = fk
            out[f"foreign key {table}.{col} #{seq}"] = f"{ref}({ref_col}) ON UPDATE {on_update} ON DELETE {on_delete}"
        for _, index, unique, origin, partial in c.exec_driver_sql(f'PRAGMA index_list("{table}")'):
            keys = []
            for _, _, column, desc, coll, key in c.exec_driver_sql(f'PRAGMA index_xinfo("{index}")'):
                if key:
                    keys.append(
                        f"{column or '<expression>'}{' DESC' if desc else ''}{'' if coll == 'BINARY' else f' {coll}'}"
                    )
            definition = f"{'UNIQUE ' if unique else ''}ON {table} ({', '.join(keys)}) origin {origin}"
            if partial:
                index_sql = c.execute(text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": index}).scalar_one()
                definition += " WHERE " + _squash(re.split(r"\bWHERE\b", index_sql, maxsplit=1, flags=re.I)[1])
            out[f"index {index}"] = definition
    return out


def _describe_postgres(c: Connection) -> dict[str, str]:
    out: dict[str, str] = {}
    columns = c.execute(
        text(
            "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = current_schema()"
        )
    )
    for table, name, type_, length, nullable, default in columns:
        if table in VERSION_TABLES:
            continue
        out[f"table {table}"] = "exists"
        size = f"({length})" if length else ""
        out[f"column {table}.{name}"] = f"{type_}{size}{' NOT NULL' if nullable == 'NO' else ''} DEFAULT {default}"
    indexes = c.execute(
        text("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()")
    )
    for table, index, definition in indexes:
        if table not in VERSION_TABLES:
            out[f"index {index}"] = definition
    constraints = c.execute(
        text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE connamespace = current_schema()::regnamespace AND conrelid <> 0"
        )
    )
    for table, name, definition in constraints:
        if table not in VERSION_TABLES:
            out[f"constraint {table}.{name}"] = definition
    return out
