"""The project's SQL files (`sql/<name>.sql`), loaded by name so analysts can reuse them."""

from __future__ import annotations

from functools import cache
from pathlib import Path

__all__ = ["SQL_DIR", "load_sql"]

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


@cache
def load_sql(name: str) -> str:
    """The text of `sql/<name>.sql`.

    Args:
        name: File name without `.sql`; may include a subfolder (`segments/spring_sale`).

    Raises:
        FileNotFoundError: no such SQL file.

    Example:
        >>> load_sql("status_sightings").lstrip().startswith("--")
        True
    """
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {path}")
    return path.read_text(encoding="utf-8")
