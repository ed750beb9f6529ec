"""The rate card: the bundled example and the checks on a user's card."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mmapi.analytics import RATE_CARD_SCHEMA, load_rate_card

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
