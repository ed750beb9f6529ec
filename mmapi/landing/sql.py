"""The landing's SQL: `sql/landing/<name>.sql`, one statement per file, loaded by name.

Files are read through the project's `mmapi.sql.load_sql`. Values (paths, schemas, limits)
are always bound as DuckDB parameters (`$name`), never formatted into the text, so analysts
can read and run the same files.
"""

from __future__ import annotations

from ..sql import SQL_DIR, load_sql

__all__ = ["LANDING_SQL_DIR", "SqlLibrary"]

LANDING_SQL_DIR = SQL_DIR / "landing"


class SqlLibrary:
    """The landing's statements by name (`sql/landing/<name>.sql`).

    Example:
        >>> "read_json" in SqlLibrary()["status_rows"]
        True
    """

    def __getitem__(self, name: str) -> str:
        return load_sql(f"landing/{name}")
