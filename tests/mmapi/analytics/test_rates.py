"""The rate card: the bundled example and the checks on a user's card."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from mmapi.analytics import RATE_CARD_SCHEMA, load_rate_card
from mmapi.errors import RateCardError

HEADER = "country,pricing_category,currency,price,valid_from,source,is_example\n"


def test_rate_card_bundled_example_is_marked_and_sourced():
    card = load_rate_card().to_pylist()
    argentina = {r["pricing_category"]: r for r in card if r["country"] == "AR"}

    assert all(r["is_example"] for r in card)
    assert all("DOMAIN.md section 5" in r["source"] for r in card)
    assert argentina["marketing"]["price"] == Decimal("0.0618")
    assert argentina["marketing_lite"]["price"] == Decimal("0.0618")  # MM rates = Cloud rates
    assert str(argentina["marketing"]["valid_from"].date()) == "2025-07-01"


def test_rate_card_user_card_with_cap(tmp_path):
    path = tmp_path / "card.csv"
    path.write_text(
        "country,pricing_category,currency,price,valid_from,source,is_example,template_name,"
        "cap_per_1000\n"
        "br,MARKETING,usd,0.0625,2025-07-01,invoice,no,,\n"
        ",,USD,,2025-10-01,bid,false,spring_sale,45\n"
    )
    card = load_rate_card(path)
    rate, cap = sorted(card.to_pylist(), key=lambda r: r["template_name"] or "")

    assert card.schema == RATE_CARD_SCHEMA
    assert (rate["country"], rate["pricing_category"], rate["currency"]) == (
        "BR",
        "marketing",
        "USD",
    )
    assert cap["pricing_category"] == "marketing_lite"  # max price exists on MM only
    assert cap["cap_price"] == Decimal("0.045")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("AR,marketing,USD,,2025-07-01,x,true\n", "price is empty"),
        (
            "AR,marketing,USD,0,2025-07-01,x,true\nAR,marketing,EUR,1,2025-08-01,x,true\n",
            "several currencies",
        ),
        ("AR,marketing,USD,-1,2025-07-01,x,true\n", "number >= 0"),
        ("ARG,marketing,USD,0.1,2025-07-01,x,true\n", "alpha-2"),
        ("AR,marketing,USD,0.1,July,x,true\n", "valid_from"),
        ("AR,marketing,USD,0.1,2025-07-01,x,maybe\n", "is_example"),
        (
            "AR,marketing,USD,0.1,2025-07-01,x,true\nAR,marketing,USD,0.2,2025-07-01,y,true\n",
            "two rows",
        ),
    ],
)
def test_rate_card_bad_values_name_the_line(tmp_path, rows, message):
    path = tmp_path / "card.csv"
    path.write_text(HEADER + rows)

    with pytest.raises(ValueError, match=message) as caught:
        load_rate_card(path)
    assert str(path) in str(caught.value)


def test_rate_card_missing_column_or_file(tmp_path):
    path = tmp_path / "card.csv"
    path.write_text("country,price\nAR,0.1\n")

    with pytest.raises(ValueError, match="lacks column"):
        load_rate_card(path)
    with pytest.raises(FileNotFoundError):
        load_rate_card(tmp_path / "none.csv")


ROW = "AR,marketing,USD,0.0618,2025-07-01,invoice,false\n"


@pytest.mark.parametrize(
    ("text", "where", "field"),
    [
        (HEADER + "AR,marketing,USD,cheap,2025-07-01,x,true\n", ":2:", "price"),
        (HEADER + "AR,marketing,USD,0.1,2025-07-01,x,7\n", ":2:", "is_example"),
        (HEADER + "AR,marketing,USD,0.1,2025-07-01,x,true,extra\n", ":2:", "8 fields"),
        (HEADER + "AR,marketing\n", ":2:", "2 fields"),
        (HEADER.strip() + ",price\n" + ROW, ":1:", "price"),
        ("country;price\nAR;0.1\n", ":1:", "pricing_category"),
        (HEADER + ROW + "BR," + ROW[3:] + ROW, ":4:", "lines 2 and 4"),
        (HEADER + "AR,marketing,USD,0.1,2025-07-01," + "x" * 200_000 + ",true\n", ":2:", "CSV"),
        (HEADER, "", "no rates"),
    ],
    ids=[
        "wrong-type",
        "wrong-flag",
        "extra-field",
        "missing-fields",
        "duplicate-column",
        "missing-column",
        "duplicate-row",
        "huge-field",
        "header-only",
    ],
)
def test_rate_card_bad_input_is_one_error_naming_file_line_and_field(tmp_path, text, where, field):
    path = tmp_path / "card.csv"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(RateCardError) as caught:
        load_rate_card(path)
    message = str(caught.value)
    assert message.startswith(f"{path}{where}")
    assert field in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "is empty"),
        ((HEADER + "AR,marketing,USD,0.1,2025-07-01,café,true\n").encode("latin-1"), "line 2"),
        ((HEADER + ROW).encode("utf-16"), "UTF-16"),
        ((HEADER + ROW).encode("utf-16-le"), "NUL bytes"),
        (bytes(range(256)) * 4, "NUL bytes"),
    ],
    ids=["empty", "latin-1", "utf-16", "utf-16-without-bom", "binary"],
)
def test_rate_card_wrong_encoding_is_one_error(tmp_path, data, reason):
    path = tmp_path / "card.csv"
    path.write_bytes(data)

    with pytest.raises(RateCardError, match=reason) as caught:
        load_rate_card(path)
    assert str(caught.value).startswith(str(path))


def test_rate_card_utf8_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "card.csv"
    path.write_bytes((HEADER + ROW).encode("utf-8-sig"))  # Excel's "CSV UTF-8"

    assert load_rate_card(path).column("country").to_pylist() == ["AR"]


def test_rate_card_over_the_size_cap_is_refused_unread(tmp_path, monkeypatch):
    path = tmp_path / "card.csv"
    path.write_text(HEADER + ROW * 100, encoding="utf-8")
    monkeypatch.setattr("mmapi.analytics.rates.MAX_RATE_CARD_BYTES", 1024)
    # Reading the file would be the failure this cap prevents.
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read a file over the cap"))

    with pytest.raises(RateCardError, match=r"over the 1,024 bytes limit"):
        load_rate_card(path)
