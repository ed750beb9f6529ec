"""A demo warehouse: a DuckDB file with a `customers` table as messy as real ones.

Phone numbers are written the way people write them in six countries (real mobile ranges,
valid for phonenumbers): `+49 151 ...`, `0151 ...`, `0049 151 ...`, `+49 (0)151 ...`,
`(11) 98765-4321` with the country in its own column, `098765 43210`, `(415) 555-2671`, ...
About 3% of rows are dirty on purpose: empty, null, letters, too short or too long, a 100 KB
string, unknown country codes, national numbers without a country, non-ASCII digits (valid
Devanagari and Arabic-Indic, invalid mixed scripts), the same number written three ways,
nulls / blanks / new lines / 2,000-character names, bad image URLs, coupons with spaces,
amounts that are not numbers. `sql/segments/spring_sale.sql` selects the demo segment.

Run: `.venv/bin/python -m mmflow.warehouse demo_output/warehouse.duckdb 50000`.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from mmapi.campaign import CampaignSpec

__all__ = ["build_demo_warehouse", "copy_customers_to", "demo_campaign_spec"]

COUNTRY_SHARES = {"DE": 0.30, "BR": 0.20, "IN": 0.20, "ES": 0.10, "GB": 0.10, "US": 0.10}
# Share of rows given one of the dirty phone values below, and of rows with a dirty
# template column.
DIRTY_PHONE_SHARE = 0.02
DIRTY_TEMPLATE_SHARE = 0.01
HUGE_STRING_CHARS = 100_000
FIRST_NAMES = (
    "Ana", "Ben", "Carla", "Deepak", "Elena", "Felipe", "Greta", "Hiro", "Isabel", "Jonas",
    "Kavya", "Lucas", "Maria", "Noah", "Olivia", "Priya", "Rafael", "Sofia", "Tomás", "Zoë",
)  # fmt: skip
DE_PREFIXES = ("151", "152", "157", "160", "170", "171", "172", "175", "176", "177", "178")
BR_AREAS = ("11", "21", "31", "41", "51", "61", "71", "81", "85", "91", "19", "27", "62")
IN_PREFIXES = ("98", "99", "97", "96", "94", "93", "91", "90", "88", "87", "81", "79", "70")
US_AREAS = ("201", "212", "213", "305", "312", "415", "617", "646", "702", "718")
DIRTY_PHONES = (
    None,
    "",
    "   ",
    "call me",
    "n/a",
    "12345",
    "+49 151",
    "+49 151 2345 6789 0123 4567",
    "+999 1234 5678",
    "(11) 98765-4321",  # Brazilian, but the row's country is null and the default is DE
    "+49 151 2345678x",
    "+49 151 23456789 ext. 12",
    "+4915123456789+",
    "0000000000",
    "+49 1٥1 23456789",  # ASCII and Arabic-Indic digits mixed
    "9" * 200,
    "tel:+49-151-23456789",  # a URI: letters, rejected
    "📞 +49 151 23456789",  # an emoji in front: phonenumbers skips it, kept
)
VALID_ODDITIES = (
    ("+९१ ९८७६५ ४३२१०", "IN"),  # Devanagari digits
    ("+٩١ ٩٨٧٦٥ ٤٣٢١٠", "IN"),  # Arabic-Indic digits
    ("＋４９ １５１ ２３４５６７８９", "DE"),  # fullwidth
    ("030 1234567", "DE"),  # a Berlin landline: valid, kept
)


def _digits(rng: np.random.Generator, count: int, width: int) -> np.ndarray:
    return np.char.zfill(rng.integers(0, 10**width, count).astype(str), width)


def _pick(rng: np.random.Generator, options: tuple[str, ...], count: int) -> np.ndarray:
    return np.array(options)[rng.integers(0, len(options), count)]


def _formats(rng: np.random.Generator, country: str, count: int) -> list[tuple[float, np.ndarray]]:
    """(share, numbers) per way of writing a number of `country`."""
    add = np.char.add
    if country == "DE":
        prefix, rest = _pick(rng, DE_PREFIXES, count), _digits(rng, count, 8)
        return [
            (0.40, add(add("+49 ", prefix), add(" ", rest))),
            (0.20, add(add("0", prefix), add(" ", rest))),
            (0.10, add(add("0049 ", prefix), add(" ", rest))),
            (0.05, add(add("+49 (0)", prefix), add(" ", rest))),
            (0.10, add(add("0", prefix), add("/", rest))),
            (0.15, add(add("+49-", prefix), add("-", rest))),
        ]
    if country == "BR":
        area, head, tail = (
            _pick(rng, BR_AREAS, count),
            _digits(rng, count, 4),
            _digits(rng, count, 4),
        )
        local = add(add(add("9", head), "-"), tail)
        return [
            (0.50, add(add(add("(", area), ") "), local)),
            (0.30, add(add(add("+55 ", area), " "), local)),
            (0.10, add(add(area, "9"), add(head, tail))),
            (0.10, add(add(add("+55 (", area), ") 9 "), add(add(head, " "), tail))),
        ]
    if country == "IN":
        first, head, tail = (
            _pick(rng, IN_PREFIXES, count),
            _digits(rng, count, 3),
            _digits(rng, count, 5),
        )
        rest = add(head, tail)
        spaced = add(add(add(first, head), " "), tail)
        return [
            (0.50, add("+91 ", spaced)),
            (0.15, add("0", spaced)),
            (0.25, add(first, rest)),
            (0.10, add("+91-", add(first, rest))),
        ]
    if country == "ES":
        a, b, c = _digits(rng, count, 2), _digits(rng, count, 3), _digits(rng, count, 3)
        return [
            (0.60, add(add(add("+34 6", a), add(" ", b)), add(" ", c))),
            (0.30, add(add("6", a), add(add(" ", b), add(" ", c)))),
            (0.10, add("0034 6", add(a, add(b, c)))),
        ]
    if country == "GB":
        mid = _pick(rng, tuple(str(m) for m in range(400, 1000) if m // 100 != 6), count)
        rest = _digits(rng, count, 6)
        return [
            (0.50, add(add("+44 7", mid), add(" ", rest))),
            (0.40, add(add("07", mid), add(" ", rest))),
            (0.10, add(add("+44 (0)7", mid), add(" ", rest))),
        ]
    area, exchange = _pick(rng, US_AREAS, count), rng.integers(200, 1000, count).astype(str)
    line = _digits(rng, count, 4)
    return [
        (0.40, add(add(add("+1 (", area), ") "), add(add(exchange, "-"), line))),
        (0.40, add(add(add("(", area), ") "), add(add(exchange, "-"), line))),
        (0.10, add(add(add("1-", area), "-"), add(add(exchange, "-"), line))),
        (0.10, add(add(add("+1 ", area), " "), add(add(exchange, " "), line))),
    ]


def _phones(rng: np.random.Generator, countries: np.ndarray) -> np.ndarray:
    phones = np.empty(len(countries), dtype=object)
    for country in COUNTRY_SHARES:
        rows = np.flatnonzero(countries == country)
        formats = _formats(rng, country, len(rows))
        shares = np.array([share for share, _ in formats])
        choice = rng.choice(len(formats), size=len(rows), p=shares / shares.sum())
        for number, (_, written) in enumerate(formats):
            picked = choice == number
            phones[rows[picked]] = written[picked].astype(object)
    return phones


def _dirty(rng: np.random.Generator, rows: int, share: float, kinds: int) -> np.ndarray:
    """Per row: -1 (clean) or which of `kinds` dirty values it gets; every kind appears."""
    kind = np.full(rows, -1)
    count = max(kinds, int(rows * share)) if rows >= 4 * kinds else 0
    if count:
        picked = rng.choice(rows, size=count, replace=False)
        kind[picked] = np.arange(count) % kinds
    return kind


def _customers(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    names = np.array(list(COUNTRY_SHARES))
    shares = np.array(list(COUNTRY_SHARES.values()))
    countries = names[rng.choice(len(names), size=rows, p=shares / shares.sum())].astype(object)
    phones = _phones(rng, countries)
    dirty = _dirty(rng, rows, DIRTY_PHONE_SHARE, len(DIRTY_PHONES) + len(VALID_ODDITIES) + 2)
    for kind, value in enumerate(DIRTY_PHONES):
        phones[dirty == kind] = value
        if value == "(11) 98765-4321":
            countries[dirty == kind] = None
    for kind, (value, country) in enumerate(VALID_ODDITIES, start=len(DIRTY_PHONES)):
        phones[dirty == kind] = value
        countries[dirty == kind] = country
    huge = np.flatnonzero(dirty == len(DIRTY_PHONES) + len(VALID_ODDITIES))
    phones[huge[:3]] = "4" * HUGE_STRING_CHARS
    # The same number three ways: a row and its next two rows (other customers, same phone).
    for row in np.flatnonzero(dirty == len(DIRTY_PHONES) + len(VALID_ODDITIES) + 1):
        if row + 2 < rows:
            rest = f"{rng.integers(10**7, 10**8)}"
            phones[row : row + 3] = [f"+49 151 {rest}", f"0151 {rest}", f"0049 151 {rest}"]
            countries[row : row + 3] = "DE"
    first_names = np.array(FIRST_NAMES, dtype=object)[rng.integers(0, len(FIRST_NAMES), rows)]
    coupons = np.char.add("SPRING-", _digits(rng, rows, 6)).astype(object)
    images = np.char.add(
        "https://shop.example.com/img/spring/",
        np.char.add(rng.integers(1, 40, rows).astype(str), ".jpg"),
    ).astype(object)
    discounts = np.char.mod("%.2f", rng.choice([5.0, 7.5, 10.0, 12.5, 20.0], size=rows)).astype(
        object
    )
    bad = _dirty(rng, rows, DIRTY_TEMPLATE_SHARE, 12)
    first_names[bad == 0] = None
    first_names[bad == 1] = ""
    first_names[bad == 2] = "Ana\nMaria"
    first_names[bad == 3] = "X" * 2000
    first_names[bad == 4] = "Ana\tB"
    coupons[bad == 5] = None
    coupons[bad == 6] = "SPRING 10"
    images[bad == 7] = None
    images[bad == 8] = "ftp://shop.example.com/a.jpg"
    images[bad == 9] = "not a url"
    discounts[bad == 10] = "ten euros"
    discounts[bad == 11] = "-5"
    start = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
    purchase = start + rng.integers(0, 400 * 86_400, rows)
    return pa.table(
        {
            "customer_id": pa.array(np.arange(1, rows + 1, dtype=np.int64)),
            "phone": pa.array(phones, pa.string()),
            "first_name": pa.array(first_names, pa.string()),
            "country": pa.array(countries, pa.string()),
            "marketing_opt_in": pa.array(rng.random(rows) < 0.92),
            "is_deleted": pa.array(rng.random(rows) < 0.01),
            "vip": pa.array(rng.random(rows) < 0.05),
            "last_purchase_at": pa.array(purchase * 1_000_000, pa.timestamp("us", tz="UTC")),
            "discount": pa.array(discounts, pa.string()),
            "coupon": pa.array(coupons, pa.string()),
            "image_url": pa.array(images, pa.string()),
        }
    )


def build_demo_warehouse(path: Path, rows: int = 50_000, seed: int = 0) -> Path:
    """Write the demo warehouse: a DuckDB file with a dirty `customers` table.

    Args:
        path: The DuckDB file to (re)create.
        rows: Customers to generate.
        seed: Random seed; the same seed gives the same file.

    Returns:
        The path written.

    Example:
        >>> import tempfile
        >>> warehouse = build_demo_warehouse(Path(tempfile.mkdtemp()) / "w.duckdb", rows=100)
        >>> duckdb.connect(str(warehouse)).sql("SELECT count(*) FROM customers").fetchall()[0][0]
        100
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    customers = _customers(rows, seed)
    with duckdb.connect(str(temporary)) as connection:
        connection.register("generated", customers)
        connection.execute("CREATE TABLE customers AS SELECT * FROM generated ORDER BY customer_id")
    temporary.replace(path)
    return path


def copy_customers_to(warehouse: Path, url: str) -> None:
    """Copy the demo warehouse's `customers` table into a database (replacing it there).

    Shows the pipeline reading a real warehouse: Postgres (`postgresql://user:pw@host/db`) or
    any database SQLAlchemy reaches. The URL's password never appears in a message.

    Args:
        warehouse: The DuckDB file `build_demo_warehouse` wrote.
        url: SQLAlchemy URL of the target database.
    """
    import sqlalchemy as sa

    target = sa.make_url(url)
    if target.drivername in ("postgresql", "postgres"):
        target = target.set(drivername="postgresql+psycopg")  # the driver this project ships
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        customers = connection.sql("SELECT * FROM customers ORDER BY customer_id").df()
    engine = sa.create_engine(target)
    try:
        customers.to_sql("customers", engine, if_exists="replace", index=False, chunksize=5000)
    finally:
        engine.dispose()


def demo_campaign_spec(
    warehouse: Path | str, campaign_id: str = "demo-spring-sale", **extra: Any
) -> CampaignSpec:
    """The spring_sale campaign over the demo warehouse (a DuckDB file or a SQLAlchemy URL)."""
    data: dict[str, Any] = {
        "campaign_id": campaign_id,
        "segment": {"sql_file": "segments/spring_sale.sql", "connection": str(warehouse)},
        "recipient_column": "phone",
        "region_column": "country",
        "default_region": "DE",
        "template": {"name": "spring_sale", "language": "en"},
        "parameters": {
            "header": {"type": "image", "column": "image_url"},
            "body": [{"type": "text", "column": "first_name"}, {"type": "text", "value": "20%"}],
            "buttons": [{"index": 0, "sub_type": "url", "type": "text", "column": "coupon"}],
        },
        "arms": {"mm": 0.9, "cloud": 0.1},
    }
    data.update(extra)
    return CampaignSpec.from_mapping(data)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("demo_output/warehouse.duckdb")
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 50_000
    print(build_demo_warehouse(target, rows=count))
