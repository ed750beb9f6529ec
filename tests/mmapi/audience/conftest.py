"""Fixtures of the audience tests: the sandbox's templates and a spec factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mmapi.campaign import CampaignSpec
from mmapi.sandbox.catalog import default_templates
from mmapi.templates import TemplateInfo

SPRING_PARAMETERS: dict[str, Any] = {
    "header": {"type": "image", "column": "image_url"},
    "body": [{"type": "text", "column": "first_name"}, {"type": "text", "value": "20%"}],
    "buttons": [{"index": 0, "sub_type": "url", "type": "text", "column": "coupon"}],
}


@pytest.fixture(scope="session")
def templates() -> dict[str, TemplateInfo]:
    """The sandbox's default templates by name (spring_sale, winback_offer, order_update)."""
    return {template.name: template.info() for template in default_templates()}


@pytest.fixture
def make_spec() -> Callable[..., CampaignSpec]:
    """A spring_sale spec over an inline query; keyword arguments override fields."""

    def make(**fields: Any) -> CampaignSpec:
        data: dict[str, Any] = {
            "campaign_id": "test-spring",
            "segment": {"query": "SELECT 1", "connection": ":memory:"},
            "recipient_column": "phone",
            "default_region": "DE",
            "template": {"name": "spring_sale", "language": "en"},
            "parameters": SPRING_PARAMETERS,
            "arms": {"mm": 0.9, "cloud": 0.1},
        }
        data.update(fields)
        return CampaignSpec.from_mapping(data)

    return make
