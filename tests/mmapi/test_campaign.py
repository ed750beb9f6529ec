"""The campaign spec file: every bad input ends in one SpecError naming the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmapi.campaign import CampaignSpec
from mmapi.errors import SpecError

GOOD = """\
campaign_id: spring-sale
segment: {query: "SELECT phone FROM customers", connection: warehouse.duckdb}
template: {name: spring_sale, language: en}
"""


def _load(tmp_path: Path, data: bytes | str) -> CampaignSpec:
    path = tmp_path / "spec.yaml"
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return CampaignSpec.from_yaml(path)


def _error(tmp_path: Path, data: bytes | str) -> str:
    with pytest.raises(SpecError) as caught:
        _load(tmp_path, data)
    message = str(caught.value)
    assert message.startswith(str(tmp_path / "spec.yaml"))
    assert "\n" not in message
    return message


def test_campaign_spec_good_file_loads(tmp_path):
    spec = _load(tmp_path, GOOD)

    assert (spec.campaign_id, spec.template.name) == ("spring-sale", "spring_sale")


def test_campaign_spec_utf8_byte_order_mark_is_read(tmp_path):
    assert _load(tmp_path, GOOD.encode("utf-8-sig")).campaign_id == "spring-sale"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD + "messages_per_second: fast\n", "messages_per_second: Input should be a valid"),
        (GOOD + "max_in_flight: [1, 2]\n", "max_in_flight: Input should be a valid integer"),
        (GOOD + "arrival_jitter_seconds: 2\n", "arrival_jitter_seconds: Input should be less"),
        (GOOD + "arms: 0.9\n", "arms: Input should be a valid dictionary"),
        (GOOD + "dry_run: sometimes\n", "dry_run: Input should be a valid boolean"),
        (GOOD.replace("language: en", "language: 7"), "template.language: Input should be"),
        (GOOD + "ttl_seconds: 60\n", "ttl_seconds"),
        (GOOD + "tempalte: x\n", "tempalte: Extra inputs are not permitted"),
        ("campaign_id: spring-sale\n", "segment: Field required; template: Field required"),
        (GOOD + "region_column: {a: 'x\n  y'}\n", "region_column: Input should be a valid string"),
    ],
    ids=[
        "text-for-number",
        "list-for-integer",
        "jitter-over-1-s",
        "number-for-mapping",
        "bad-boolean",
        "number-for-text",
        "out-of-range",
        "misspelt-field",
        "missing-fields",
        "multi-line-value",
    ],
)
def test_campaign_spec_wrong_fields_are_named(tmp_path, text, expected):
    assert expected in _error(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD + "campaign_id: other\n",
            "line 4, column 1: not valid YAML (duplicate key 'campaign_id')",
        ),
        (
            GOOD.replace("language: en", "language: en, name: x"),
            "line 3, column 45: not valid YAML (duplicate key 'name')",
        ),
        (GOOD + "1: x\n", "line 4, column 1: not valid YAML (field names are text (got 1))"),
        (
            "base: &b {query: x}\n" + GOOD + "more: *b\n",
            "line 5, column 7: not valid YAML (aliases",
        ),
        (GOOD + "  bad: : x\n", "line 4"),
        ("campaign_id: x\n\tsegment: y\n", "line 2, column 1: not valid YAML"),
        ("- a\n- b\n", "must be a mapping of fields (got a list)"),
        ("# only a comment\n", "holds no fields"),
    ],
    ids=[
        "duplicate-key",
        "duplicate-nested-key",
        "number-key",
        "alias",
        "bad-indent",
        "tab",
        "list",
        "no-fields",
    ],
)
def test_campaign_spec_bad_yaml_names_the_line(tmp_path, text, expected):
    assert expected in _error(tmp_path, text)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "campaign spec is empty"),
        (
            GOOD.replace("spring-sale", "café").encode("latin-1"),
            "line 1: not UTF-8 text (byte 0xe9",
        ),
        (GOOD.encode("utf-16"), "UTF-16"),
        (GOOD.encode("utf-16-le"), "NUL bytes"),
        (bytes(range(256)) * 4, "NUL bytes"),
        (b"\x89PNG\r\n\x1a\n" + b"\xff" * 64, "not UTF-8 text"),
    ],
    ids=["empty", "latin-1", "utf-16", "utf-16-without-bom", "binary", "image"],
)
def test_campaign_spec_wrong_encoding_is_one_error(tmp_path, data, expected):
    assert expected in _error(tmp_path, data)


def test_campaign_spec_over_the_size_cap_is_refused_unread(tmp_path, monkeypatch):
    # A real 1 MiB file would do as well; the cap is lowered to keep the test small.
    monkeypatch.setattr("mmapi.campaign.MAX_SPEC_BYTES", 1024)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read a file over the cap"))

    assert "over the 1,024 bytes limit" in _error(tmp_path, GOOD + "#" * 2000 + "\n")


def test_campaign_spec_missing_file_is_one_error(tmp_path):
    with pytest.raises(SpecError, match=r"spec\.yaml: campaign spec not found"):
        CampaignSpec.from_yaml(tmp_path / "spec.yaml")


def test_the_example_spec_shipped_in_campaigns_is_valid():
    spec = CampaignSpec.from_yaml(
        Path(__file__).resolve().parents[2] / "campaigns" / "spring_sale.yaml"
    )
    assert spec.campaign_id == "spring-sale-2026"
    assert spec.segment.connection == "demo_output/warehouse.duckdb"
