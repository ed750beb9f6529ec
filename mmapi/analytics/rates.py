"""The rate card: what one billable message costs, by recipient country and pricing category.

A rate card is a CSV that users supply (rate cards change quarterly, DOMAIN.md section 5):

| column | meaning |
|---|---|
| `country` | ISO 3166 alpha-2 code of the recipient's number |
| `pricing_category` | the webhook's `pricing.category`: `marketing_lite` (MM), `marketing` |
| `currency` | ISO 4217 code; one currency per card |
| `price` | per billable (delivered) message |
| `valid_from` | date (or UTC time) from which the row applies, until the next row's |
| `source` | where the figure comes from |
| `is_example` | true for figures not taken from the user's own invoice |

Optional columns for max-price templates (MM only; DOMAIN.md section 5): a row with
`template_name` and `cap_per_1000` (the template's bid cap per 1,000 deliveries) says that
template is charged at most the cap; `country` and `price` stay empty on such a row, and
`pricing_category` defaults to `marketing_lite`. Its messages are costed at the cap: an upper
bound, marked as an estimate in the report.

The bundled `rate_card_example.csv` holds the few figures DOMAIN.md gives, each row marked as an
example with its source and date. A country missing from the card is reported as a gap by the
report, never priced at 0.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import duckdb
import pyarrow as pa

from .. import storage
from ..errors import RateCardError
from ..input_files import read_text
from ..settings import MAX_RATE_CARD_BYTES

__all__ = [
    "DEFAULT_RATE_CARD_PATH",
    "RATE_CARD_COLUMNS",
    "RATE_CARD_OPTIONAL_COLUMNS",
    "RATE_CARD_SCHEMA",
    "load_rate_card",
]

DEFAULT_RATE_CARD_PATH = Path(__file__).resolve().with_name("rate_card_example.csv")
RATE_CARD_COLUMNS = (
    "country",
    "pricing_category",
    "currency",
    "price",
    "valid_from",
    "source",
    "is_example",
)
RATE_CARD_OPTIONAL_COLUMNS = ("template_name", "cap_per_1000")
_PRICE = pa.decimal128(18, 9)
RATE_CARD_SCHEMA = pa.schema(
    [
        pa.field("country", pa.string()),
        pa.field("pricing_category", pa.string(), nullable=False),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("price", _PRICE),  # per billable message; NULL on cap rows
        pa.field("valid_from", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("source", pa.string()),
        pa.field("is_example", pa.bool_(), nullable=False),
        pa.field("template_name", pa.string()),  # set on max-price cap rows only
        pa.field("cap_per_1000", _PRICE),
        pa.field("cap_price", _PRICE),  # cap_per_1000 / 1000: the most one message can cost
    ]
)
# The DuckDB type of each Arrow type of the schema (see `_arrow_table`).
_DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.bool_(): "BOOLEAN",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
    _PRICE: "DECIMAL(18, 9)",
}
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n", ""}
_NANO = Decimal("0.000000001")


def _decimal(text: str, where: str, column: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise RateCardError(f"{where}: {column} must be a number (got {text!r})") from None
    if not value.is_finite() or value < 0:
        raise RateCardError(f"{where}: {column} must be a number >= 0 (got {text!r})")
    return value.quantize(_NANO)


def _valid_from(text: str, where: str) -> datetime:
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RateCardError(f"{where}: valid_from must be YYYY-MM-DD (got {text!r})") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _row(raw: dict[str, str | None], where: str) -> dict[str, object]:
    value = {k: (v or "").strip() for k, v in raw.items() if k is not None}
    template = value.get("template_name", "")
    is_cap = bool(template)
    country = value["country"].upper()
    category = value["pricing_category"].lower() or ("marketing_lite" if is_cap else "")
    currency = value["currency"].upper()
    flag = value["is_example"].lower()
    if flag not in _TRUE | _FALSE:
        raise RateCardError(
            f"{where}: is_example must be true or false (got {value['is_example']!r})"
        )
    if not _CURRENCY.match(currency):
        raise RateCardError(f"{where}: currency must be a 3-letter code (got {currency!r})")
    if not category:
        raise RateCardError(f"{where}: pricing_category is empty")
    row: dict[str, object] = {
        "country": country or None,
        "pricing_category": category,
        "currency": currency,
        "price": None,
        "valid_from": _valid_from(value["valid_from"], where),
        "source": value["source"] or None,
        "is_example": flag in _TRUE,
        "template_name": template or None,
        "cap_per_1000": None,
        "cap_price": None,
    }
    if is_cap:
        cap_text = value.get("cap_per_1000", "")
        if not cap_text:
            raise RateCardError(f"{where}: template_name {template!r} needs cap_per_1000")
        cap = _decimal(cap_text, where, "cap_per_1000")
        row["cap_per_1000"] = cap
        row["cap_price"] = (cap / 1000).quantize(_NANO)
        return row
    if not _COUNTRY.match(country):
        raise RateCardError(f"{where}: country must be an ISO alpha-2 code (got {country!r})")
    if not value["price"]:
        raise RateCardError(f"{where}: price is empty (a missing rate is a missing row, never 0)")
    row["price"] = _decimal(value["price"], where, "price")
    return row


def _arrow_table(rows: list[dict[str, object]]) -> pa.Table:
    """The checked rows as an Arrow table with `RATE_CARD_SCHEMA`, in their order.

    DuckDB makes it from the columns as lists: pyarrow's constructors from Python values import
    pandas, half a second of every report. Decimals go as exact text, cast to the schema's type.
    """
    columns = {
        field.name: [
            format(value, "f") if isinstance(value, Decimal) else value
            for value in (row[field.name] for row in rows)
        ]
        for field in RATE_CARD_SCHEMA
    }
    select = ", ".join(
        f"CAST(unnest(${field.name}) AS {_DUCKDB_TYPES[field.type]}) AS {field.name}"
        for field in RATE_CARD_SCHEMA
    )
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        table = con.sql(f"SELECT {select}", params=columns).to_arrow_table()
    finally:
        con.close()
    # The same types; the schema adds the non-null flags (Table.cast would import
    # pyarrow.compute, a quarter of a second).
    return pa.Table.from_arrays(table.columns, schema=RATE_CARD_SCHEMA)


def _check_header(source: Path | str, header: list[str]) -> None:
    """One line for a header that is missing columns or names one twice."""
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise RateCardError(f"{source}:1: column(s) {', '.join(twice)} appear more than once")
    missing = [name for name in RATE_CARD_COLUMNS if name not in header]
    if missing:
        raise RateCardError(f"{source}:1: rate card lacks column(s) {', '.join(missing)}")


def load_rate_card(path: str | Path | None = None) -> pa.Table:
    """Read and check a rate card CSV; the bundled example when `path` is None.

    Args:
        path: The CSV (columns in the module docstring), a local path or an object store URL
            (`s3://...`, read from a fresh local copy; messages name the URL).

    Returns:
        The card as an Arrow table with `RATE_CARD_SCHEMA`, sorted by its keys.

    Raises:
        FileNotFoundError: no such file.
        RateCardError: (a ValueError) a file over `MAX_RATE_CARD_BYTES`, empty, not UTF-8,
            a missing or repeated column, a row with extra fields, a bad value, several
            currencies, or two rows for the same key and date; the message names the file,
            the line and the column.

    Example:
        >>> card = load_rate_card()
        >>> card.num_rows > 0 and set(card.column("is_example").to_pylist()) == {True}
        True
    """
    source = path if path is not None else DEFAULT_RATE_CARD_PATH
    local = storage.readable_file(source, what="rate card")
    if not local.is_file():
        raise FileNotFoundError(f"{source}: rate card not found")
    text = read_text(
        local,
        what="rate card",
        max_bytes=MAX_RATE_CARD_BYTES,
        error=RateCardError,
        name=str(source),
    )
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in reader.fieldnames or []]
        _check_header(source, header)
        reader.fieldnames = header
        rows: list[dict[str, object]] = []
        lines: list[int] = []
        for raw in reader:
            where = f"{source}:{reader.line_num}"
            if None in raw or None in raw.values():
                fields = len(header) + len(raw.get(None, [])) - list(raw.values()).count(None)
                raise RateCardError(f"{where}: {fields} fields, the header has {len(header)}")
            rows.append(_row(raw, where))
            lines.append(reader.line_num)
    except csv.Error as exc:
        # The record that failed starts on the line after the last one read.
        raise RateCardError(f"{source}:{reader.line_num + 1}: not valid CSV ({exc})") from None
    if not rows:
        raise RateCardError(f"{source}: rate card has a header but no rates")
    currencies = sorted({str(row["currency"]) for row in rows})
    if len(currencies) > 1:
        raise RateCardError(
            f"{source}: rates in several currencies ({', '.join(currencies)}); convert them to one"
        )
    seen: dict[tuple[object, ...], int] = {}
    for row, line in zip(rows, lines, strict=True):
        key = (row["country"], row["pricing_category"], row["template_name"], row["valid_from"])
        if key in seen:
            raise RateCardError(
                f"{source}:{line}: two rows for (country, pricing_category, template_name) "
                f"{key[:3]} from {key[3]:%Y-%m-%d}: lines {seen[key]} and {line}"
            )
        seen[key] = line
    rows.sort(
        key=lambda r: (
            str(r["template_name"] or ""),
            str(r["country"] or ""),
            str(r["pricing_category"]),
            r["valid_from"],
        )
    )
    return _arrow_table(rows)
