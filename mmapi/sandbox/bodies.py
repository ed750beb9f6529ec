"""Webhook bodies in Meta's shape (DOMAIN.md section 4), built as dicts and dumped by orjson.

Events due together are batched like Meta does under load: statuses of different messages
share one body (up to `max_statuses_per_body`), sometimes split over several entries.
Clicks (`user_actions`, no wamid) and `user_preferences` go in bodies of their own.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from .catalog import TemplateCatalog
from .config import SandboxConfig
from .groundtruth import (
    EVENT_NAMES,
    INDEX_SHIFT,
    KIND_FAILED,
    KIND_MASK,
    KIND_SENT,
    GroundTruth,
)

__all__ = ["STATUS_ERRORS", "BodyBuilder", "WebhookBody"]

# Title and details of the failure codes the sandbox sends in `failed` statuses.
STATUS_ERRORS: dict[int, tuple[str, str]] = {
    131000: ("Something went wrong", "Something went wrong."),
    131026: ("Message undeliverable", "Message Undeliverable."),
    131049: (
        "This message was not delivered to maintain healthy ecosystem engagement.",
        "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
    ),
    131050: (
        "Unable to deliver the message. This recipient has chosen to stop receiving "
        "marketing messages on WhatsApp from your business.",
        "The recipient has stopped marketing messages from this business.",
    ),
    132015: (
        "Template is Paused",
        "The message was held for quality assessment and then not sent.",
    ),
}

# Body group of each event kind: statuses (sent/delivered/read/failed), clicks, preferences.
_GROUP_OF_KIND = (0, 0, 0, 0, 1, 2, 2)
_GROUP_KEYS = (
    ("messages", "statuses"),
    ("messages", "user_actions"),
    ("user_preferences", "user_preferences"),
)

# (raw body, the (event code, timestamp) pairs it carries)
WebhookBody = tuple[bytes, list[tuple[int, int]]]


class BodyBuilder:
    """Turns due events into webhook bodies.

    Attributes:
        config: The sandbox configuration.
        truth: The ground truth, which knows every message behind an event code.
        catalog: The templates (a click's component depends on the template's buttons).
        rng: Random source of batch sizes, order and entry splits.
    """

    def __init__(
        self,
        config: SandboxConfig,
        truth: GroundTruth,
        catalog: TemplateCatalog,
        rng: random.Random,
    ) -> None:
        self.config = config
        self.truth = truth
        self.catalog = catalog
        self.rng = rng

    def _metadata(self) -> dict[str, str]:
        return {
            "display_phone_number": self.config.display_phone_number,
            "phone_number_id": self.config.phone_number_id,
        }

    def status(self, index: int, kind: int, ts: int) -> dict[str, Any]:
        """One `statuses[]` element."""
        truth = self.truth
        item: dict[str, Any] = {
            "id": truth.wamid(index),
            "status": EVENT_NAMES[kind],
            "timestamp": str(ts),
            "recipient_id": truth.wa_id(index),
        }
        opaque = truth.opaque_data(index)
        if opaque is not None:
            item["biz_opaque_callback_data"] = opaque
        if kind == KIND_FAILED:
            code = truth.error_code(index)
            title, details = STATUS_ERRORS.get(code, STATUS_ERRORS[131000])
            item["errors"] = [
                {"code": code, "title": title, "message": title, "error_data": {"details": details}}
            ]
            return item
        category = truth.pricing_category(index)
        if self.config.include_conversation and not truth.route_is_mm(index):
            conversation: dict[str, Any] = {
                "id": f"{index:032x}",
                "origin": {"type": category},
            }
            if kind == KIND_SENT:
                conversation["expiration_timestamp"] = str(ts + 86400)
            item["conversation"] = conversation
        item["pricing"] = {
            "billable": True,
            "pricing_model": "PMP",
            "type": "regular",
            "category": category,
        }
        return item

    def click(self, index: int, ts: int) -> dict[str, Any]:
        """One `user_actions[]` link click: no wamid, recipient or template, as Meta sends it."""
        click_id, token = self.truth.click_ids(index)
        entry = self.catalog.entries[self.truth.template_index(index)]
        # Most clicks hit the CTA button when there is one; the same message always says the same.
        cta = entry.has_url_button and (index * 2654435761) % 100 < 85
        return {
            "action_type": "marketing_messages_link_click",
            "timestamp": str(ts),
            "marketing_messages_link_click_data": {
                "click_component": "cta" if cta else "body",
                "click_id": click_id,
                "tracking_token": token,
            },
        }

    def preference(self, index: int, kind: int, ts: int) -> dict[str, Any]:
        """One `user_preferences[]` element (stop or resume of marketing messages)."""
        return {
            "wa_id": self.truth.wa_id(index),
            "category": "marketing_messages",
            "value": EVENT_NAMES[kind],
            "timestamp": str(ts),
        }

    def _envelope(self, changes: list[dict[str, Any]]) -> bytes:
        waba = self.config.waba_id
        if len(changes) > 1:
            entries = [{"id": waba, "changes": [change]} for change in changes]
        else:
            entries = [{"id": waba, "changes": changes}]
        return orjson.dumps({"object": "whatsapp_business_account", "entry": entries})

    def _change(self, field: str, key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        value = {"messaging_product": "whatsapp", "metadata": self._metadata(), key: items}
        return {"field": field, "value": value}

    def build(self, events: list[tuple[int, int]]) -> list[WebhookBody]:
        """Batch due events into bodies.

        Args:
            events: `(event code, timestamp)` pairs due now.

        Returns:
            The bodies, each with the events it carries.
        """
        config = self.config
        rng = self.rng
        groups: tuple[list[tuple[int, int]], ...] = ([], [], [])
        for event in events:
            groups[_GROUP_OF_KIND[event[0] & KIND_MASK]].append(event)
        bodies: list[WebhookBody] = []
        for group_index, group in enumerate(groups):
            rng.shuffle(group)
            start = 0
            while start < len(group):
                size = rng.randint(1, config.max_statuses_per_body)
                chunk = group[start : start + size]
                start += size
                bodies.append((self._body(group_index, chunk), chunk))
        return bodies

    def _body(self, group_index: int, chunk: list[tuple[int, int]]) -> bytes:
        items = []
        for code, ts in chunk:
            index, kind = code >> INDEX_SHIFT, code & KIND_MASK
            if group_index == 0:
                items.append(self.status(index, kind, ts))
            elif group_index == 1:
                items.append(self.click(index, ts))
            else:
                items.append(self.preference(index, kind, ts))
        field, key = _GROUP_KEYS[group_index]
        if len(items) > 1 and self.rng.random() < self.config.p_multi_entry:
            cut = self.rng.randint(1, len(items) - 1)
            changes = [self._change(field, key, items[:cut]), self._change(field, key, items[cut:])]
        else:
            changes = [self._change(field, key, items)]
        return self._envelope(changes)
