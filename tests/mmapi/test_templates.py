"""Marketing template TTL rules and template info (DOMAIN.md section 1, TTL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from mmapi.errors import TTLValidationError
from mmapi.settings import MARKETING_TTL_DEFAULT_SECONDS
from mmapi.templates import CampaignTTL, TemplateInfo, validate_marketing_ttl

RECORDED_AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("seconds", [43_200, 43_201, 86_400, 2_591_999, 2_592_000])
def test_validate_marketing_ttl_in_range_returned(seconds):
    assert validate_marketing_ttl(seconds) == seconds


@pytest.mark.parametrize("seconds", [43_199, 2_592_001, 0, -1, -43_200, 10**12])
def test_validate_marketing_ttl_out_of_range_rejected(seconds):
    with pytest.raises(TTLValidationError, match="outside the marketing template range"):
        validate_marketing_ttl(seconds)


@pytest.mark.parametrize("seconds", [86_400.0, 43_200.5, "86400", None, [86_400]])
def test_validate_marketing_ttl_non_int_rejected(seconds):
    with pytest.raises(TTLValidationError, match="integer"):
        validate_marketing_ttl(seconds)


@pytest.mark.parametrize("seconds", [True, False])
def test_validate_marketing_ttl_bool_rejected(seconds):
    with pytest.raises(TTLValidationError, match="integer"):
        validate_marketing_ttl(seconds)


def test_validate_marketing_ttl_error_caught_as_value_error():
    with pytest.raises(ValueError, match="43199"):
        validate_marketing_ttl(43_199)


def make_template(**fields) -> TemplateInfo:
    data = {
        "id": "1234",
        "name": "spring_sale",
        "language": "en_US",
        "category": "MARKETING",
        "components": [
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["h"]}},
            {"type": "BODY", "text": "Hi {{1}}, {{2}} off until {{3}}. Again: {{1}}, {{ 2 }}!"},
            {"type": "FOOTER", "text": "Reply STOP to opt out"},
            {"type": "BUTTONS", "buttons": [{"type": "URL", "url": "https://x.io/{{1}}"}]},
        ],
    }
    return TemplateInfo.model_validate(data | fields)


def test_template_info_body_parameter_count_repeated_placeholders_counted_once():
    assert make_template().body_parameter_count == 3


def test_template_info_body_parameter_count_named_placeholders():
    template = make_template(
        components=[{"type": "body", "text": "Hi {{first_name}}, {{code}}; {{first_name}}"}]
    )

    assert template.body_parameter_count == 2


@pytest.mark.parametrize(
    "components",
    [[], [{"type": "BODY", "text": "No placeholders here."}], [{"type": "BODY"}]],
)
def test_template_info_body_parameter_count_zero(components):
    assert make_template(components=components).body_parameter_count == 0


@pytest.mark.parametrize(
    ("header", "expected_format", "expected_count"),
    [
        ({"type": "HEADER", "format": "IMAGE"}, "IMAGE", 1),
        ({"type": "header", "format": "video"}, "VIDEO", 1),
        ({"type": "HEADER", "format": "DOCUMENT"}, "DOCUMENT", 1),
        ({"type": "HEADER", "format": "TEXT", "text": "Sale {{1}} {{1}}"}, "TEXT", 1),
        ({"type": "HEADER", "text": "Sale"}, "TEXT", 0),  # format defaults to TEXT
    ],
)
def test_template_info_header_format_and_parameter_count(header, expected_format, expected_count):
    template = make_template(components=[header, {"type": "BODY", "text": "{{1}}"}])

    assert template.header_format == expected_format
    assert template.header_parameter_count == expected_count


def test_template_info_header_format_none_without_header():
    template = make_template(components=[{"type": "BODY", "text": "{{1}}"}])

    assert template.header_format is None
    assert template.header_parameter_count == 0


@pytest.mark.parametrize("ttl", [None, -1])
def test_template_info_ttl_seconds_default_when_unset(ttl):
    assert make_template(message_send_ttl_seconds=ttl).ttl_seconds == MARKETING_TTL_DEFAULT_SECONDS
    assert MARKETING_TTL_DEFAULT_SECONDS == 30 * 24 * 3600


def test_template_info_ttl_seconds_own_value():
    assert make_template(message_send_ttl_seconds=86_400).ttl_seconds == 86_400


def test_template_info_unknown_fields_kept():
    template = make_template(quality_score={"score": "GREEN"})

    assert template.model_extra == {"quality_score": {"score": "GREEN"}}


def test_campaign_ttl_from_template_with_own_ttl():
    ttl = CampaignTTL.from_template(make_template(message_send_ttl_seconds=43_200), RECORDED_AT)

    assert ttl == CampaignTTL(
        template_name="spring_sale",
        ttl_seconds=43_200,
        source="template",
        recorded_at=RECORDED_AT,
    )


@pytest.mark.parametrize("unset", [None, -1])
def test_campaign_ttl_from_template_without_ttl_uses_default(unset):
    ttl = CampaignTTL.from_template(make_template(message_send_ttl_seconds=unset), RECORDED_AT)

    assert ttl.source == "default"
    assert ttl.ttl_seconds == MARKETING_TTL_DEFAULT_SECONDS


def test_campaign_ttl_expires_at_adds_ttl():
    ttl = CampaignTTL.from_template(make_template(message_send_ttl_seconds=43_200), RECORDED_AT)
    sent_at = datetime(2026, 3, 1, 10, 0, 5, tzinfo=UTC)

    assert ttl.expires_at(sent_at) == datetime(2026, 3, 1, 22, 0, 5, tzinfo=UTC)
    default = CampaignTTL.from_template(make_template(), RECORDED_AT)
    assert default.expires_at(sent_at) == sent_at + timedelta(days=30)


@pytest.mark.parametrize("seconds", [43_199, 2_592_001, 0])
def test_campaign_ttl_out_of_range_rejected(seconds):
    with pytest.raises(ValidationError) as info:
        CampaignTTL(
            template_name="spring_sale",
            ttl_seconds=seconds,
            source="template",
            recorded_at=RECORDED_AT,
        )

    assert [error["loc"] for error in info.value.errors()] == [("ttl_seconds",)]


def test_campaign_ttl_from_template_out_of_range_rejected():
    template = make_template(message_send_ttl_seconds=3_600)  # a utility-style TTL

    with pytest.raises(ValidationError, match="ttl_seconds"):
        CampaignTTL.from_template(template, RECORDED_AT)


def test_campaign_ttl_is_frozen():
    ttl = CampaignTTL.from_template(make_template(), RECORDED_AT)

    with pytest.raises(ValidationError):
        ttl.ttl_seconds = 43_200  # type: ignore[misc]
