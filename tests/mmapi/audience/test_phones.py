"""Phone normalisation: the vectorised path agrees with phonenumbers, and rejects say why."""

from __future__ import annotations

import random
import time

import numpy as np
import pyarrow as pa
import pytest

from mmapi.audience import normalize_phone, normalize_phones
from mmapi.audience.phone_rules import fast_normalize

REGIONS = [
    "DE",
    "GB",
    "GG",
    "US",
    "CA",
    "BR",
    "IN",
    "ES",
    "IT",
    "RU",
    "KZ",
    "AR",
    "FR",
    "MX",
    "AU",
    "JP",
    "NG",
    "CH",
    None,
]
CODES = [
    "49",
    "44",
    "1",
    "55",
    "91",
    "34",
    "39",
    "7",
    "54",
    "33",
    "52",
    "61",
    "81",
    "234",
    "41",
    "800",
    "999",
    "3",
    "0",
]


def _digits(rng: random.Random, low: int, high: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(rng.randint(low, high)))


def _spaced(rng: random.Random, text: str) -> str:
    return "".join(
        ch + (rng.choice([" ", "-", ".", "/", ""]) if rng.random() < 0.2 else "") for ch in text
    )


def _generated(count: int, seed: int = 7) -> tuple[list[str], list[str | None]]:
    """Numbers in every shape the fast path handles or refuses, with a region each."""
    rng = random.Random(seed)
    values, regions = [], []
    for _ in range(count):
        code, region = rng.choice(CODES), rng.choice(REGIONS)
        rest = rng.choice(["15", "17", "7", "9", "6", "0", "1", "2", "3", "4", ""]) + _digits(
            rng, 5, 11
        )
        shape = rng.randrange(8)
        if shape == 0:
            text = f"+{code} {rest}"
        elif shape == 1:
            text = f"00{code}{rest}"
        elif shape == 2:
            text = f"0{rest}"
        elif shape == 3:
            text = rest
        elif shape == 4:
            text = f"{code}{rest}"
        elif shape == 5:
            text = f"+{code} (0){rest}"
        elif shape == 6:
            text = f"011 {code} {rest}"
        else:
            text = f"({rest[:2]}) {rest[2:]}"
        values.append(_spaced(rng, text))
        regions.append(region)
    return values, regions


def test_normalize_phones_matches_phonenumbers_on_generated_numbers():
    values, regions = _generated(3000)

    result = normalize_phones(pa.array(values), None, pa.array(regions, pa.string()))
    fast, _ = fast_normalize(pa.array(values), np.array(regions, dtype=object))

    expected = [
        normalize_phone(value, region) for value, region in zip(values, regions, strict=True)
    ]
    assert result.recipient.to_pylist() == [check.recipient for check in expected]
    assert result.country.to_pylist() == [check.country for check in expected]
    assert result.reason.to_pylist() == [check.reason for check in expected]
    accepted = [check.recipient for check in expected if check.recipient]
    assert fast.null_count < len(values) - len(accepted) / 2, "the fast path decided too little"


@pytest.mark.parametrize(
    ("value", "region", "recipient", "country"),
    [
        ("+49 151 23456789", None, "4915123456789", "DE"),
        ("0151 23456789", "DE", "4915123456789", "DE"),
        ("0049 151 23456789", "DE", "4915123456789", "DE"),
        ("+49 (0)151 2345-6789", "DE", "4915123456789", "DE"),
        ("(11) 98765-4321", "BR", "5511987654321", "BR"),
        ("1-415-555-2671", "US", "14155552671", "US"),
        ("07911 123456", "GB", "447911123456", "GG"),
        ("+९१ ९८७६५ ४३२१०", None, "919876543210", "IN"),  # Devanagari digits
        ("+٩١ ٩٨٧٦٥ ٤٣٢١٠", None, "919876543210", "IN"),  # Arabic-Indic digits
        ("＋４９ １５１ ２３４５６７８９", None, "4915123456789", "DE"),  # fullwidth
        ("  +34 612 345 678  ", None, "34612345678", "ES"),
    ],
)
def test_normalize_phones_writes_e164_digits(value, region, recipient, country):
    result = normalize_phones(pa.array([value]), region)

    assert result.recipient.to_pylist() == [recipient]
    assert result.country.to_pylist() == [country]
    assert result.reason.to_pylist() == [None]


@pytest.mark.parametrize(
    ("value", "reason", "detail"),
    [
        (None, "empty", "null"),
        ("", "empty", "blank"),
        ("   ", "empty", "blank"),
        ("call me", "invalid_characters", "letters"),
        ("+49 151 2345678x", "invalid_characters", "letters"),
        ("+49 1٥1 23456789", "invalid_characters", "more than one script"),
        ("12345", "invalid_number", "NOT_VALID"),
        ("+49 1", "invalid_number", "TOO_SHORT"),
        ("+49 151", "invalid_number", "IS_POSSIBLE_LOCAL_ONLY"),
        ("+999 1234 5678", "invalid_number", "INVALID_COUNTRY_CODE"),
        ("+49 151 2345 6789 0123 4567", "invalid_number", "TOO_LONG"),
        ("+49 151 234²", "invalid_number", "NOT_A_NUMBER"),
        ("9" * 65, "too_long", "65 characters"),
    ],
)
def test_normalize_phones_rejects_with_reason(value, reason, detail):
    result = normalize_phones(pa.array([value], pa.string()), "DE")

    assert result.recipient.to_pylist() == [None]
    assert result.reason.to_pylist() == [reason]
    assert detail in result.detail[0].as_py()


def test_normalize_phones_national_number_without_region_is_invalid():
    result = normalize_phones(pa.array(["0151 23456789"]), None)

    assert result.reason.to_pylist() == ["invalid_number"]
    assert "INVALID_COUNTRY_CODE" in result.detail[0].as_py()


def test_normalize_phones_ten_megabyte_string_is_cheap():
    huge = "4" * 10_000_000
    started = time.perf_counter()

    result = normalize_phones(pa.array([huge, "+49 151 23456789"]), "DE")

    assert time.perf_counter() - started < 2.0
    assert result.reason.to_pylist() == ["too_long", None]
    assert result.detail[0].as_py() == "10000000 characters (at most 64)"


def test_normalize_phones_row_region_overrides_default_and_blank_falls_back():
    values = pa.array(["(11) 98765-4321", "0151 23456789", "0151 23456789"])
    regions = pa.array(["br", "  ", None])

    result = normalize_phones(values, "DE", regions)

    assert result.recipient.to_pylist() == ["5511987654321", "4915123456789", "4915123456789"]


def test_normalize_phones_reads_integer_and_float_columns():
    result = normalize_phones(pa.array([4915123456789, None]), "DE")
    floats = normalize_phones(pa.array([4915123456789.0]), "DE")

    assert result.recipient.to_pylist() == ["4915123456789", None]
    assert floats.recipient.to_pylist() == ["4915123456789"]


def test_normalize_phones_dedupes_raw_values_before_parsing():
    values = pa.array(["+49 151 23456789"] * 1000 + ["0151 23456789"] * 1000)

    result = normalize_phones(values, "DE")

    assert result.distinct == 2
    assert set(result.recipient.to_pylist()) == {"4915123456789"}


def test_fast_path_agrees_with_phonenumbers_on_every_region_example():
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    values, regions = [], []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None:
                continue
            for style in (PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.NATIONAL):
                values += [phonenumbers.format_number(number, style)] * 3
                regions += [region, None, "US"]
            nsn = phonenumbers.national_significant_number(number)
            values += [nsn, f"{number.country_code}{nsn}", f"00{number.country_code}{nsn}"]
            regions += [region] * 3

    e164, country = fast_normalize(pa.array(values), np.array(regions, dtype=object))

    decided = [
        (value, region, fast, where)
        for value, region, fast, where in zip(
            values, regions, e164.to_pylist(), country.to_pylist(), strict=True
        )
        if fast is not None
    ]
    assert len(decided) > 0.7 * len(values)
    for value, region, fast, where in decided:
        expected = normalize_phone(value, region)
        assert (fast, where) == (expected.recipient, expected.country), (value, region)
