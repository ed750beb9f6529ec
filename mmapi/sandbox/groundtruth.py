"""The ground truth: every accepted message with its fate, and every webhook event delivered.

Tests and benchmarks score the pipeline against it. It must hold a million messages, so it
is kept in columns (`array` of small ints and floats, one list of numbers) instead of an
object per message; wamids, click ids and tracking tokens are derived from the message's
index and a random per-run prefix, so they are unique across runs without being stored.
"""

from __future__ import annotations

import base64
import hashlib
import os
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from .catalog import TemplateCatalog

__all__ = [
    "DUP_FLAG",
    "ENDPOINT_NAMES",
    "EVENT_NAMES",
    "FATE_DELIVERED",
    "FATE_DROPPED",
    "FATE_EXPIRED",
    "FATE_FAILED",
    "FATE_NAMES",
    "FATE_READ",
    "INDEX_SHIFT",
    "KIND_CLICK",
    "KIND_DELIVERED",
    "KIND_FAILED",
    "KIND_MASK",
    "KIND_READ",
    "KIND_RESUME",
    "KIND_SENT",
    "KIND_STOP",
    "PRICING_CATEGORIES",
    "ROUTE_NAMES",
    "GroundTruth",
]

ENDPOINT_NAMES = ("marketing_messages", "messages")
ROUTE_NAMES = ("mm", "cloud")
# Index 0 is the MM price; the others are the template category on the Cloud route.
PRICING_CATEGORIES = ("marketing_lite", "marketing", "utility", "authentication")
MESSAGE_STATUSES = ("accepted", "held_for_quality_assessment")

FATE_NAMES = ("read", "delivered", "failed", "expired", "dropped")
FATE_READ, FATE_DELIVERED, FATE_FAILED, FATE_EXPIRED, FATE_DROPPED = range(5)

EVENT_NAMES = ("sent", "delivered", "read", "failed", "click", "stop", "resume")
KIND_SENT, KIND_DELIVERED, KIND_READ, KIND_FAILED, KIND_CLICK, KIND_STOP, KIND_RESUME = range(7)
_EVENT_KIND = ("status", "status", "status", "status", "click", "preference", "preference")

# An event code packs (message index, duplicate flag, kind): index << 4 | dup << 3 | kind.
KIND_MASK = 0b111
DUP_FLAG = 0b1000
INDEX_SHIFT = 4


class GroundTruth:
    """Accepted messages and delivered webhook events, in compact columns.

    Attributes:
        catalog: The templates, to name a message's template.
        path: Where the NDJSON copy goes (None = nowhere).

    Example:
        >>> from mmapi.sandbox.catalog import default_templates
        >>> truth = GroundTruth(TemplateCatalog(default_templates()))
        >>> i = truth.add_message(to="+4915112345678", endpoint=0, route=0, category=0,
        ...     template_index=0, accepted_at=0.0, fate=FATE_READ, error_code=0,
        ...     ttl_seconds=86400, activity_sharing=True, held=False)
        >>> truth.message_record(i)["wa_id"], truth.message_record(i)["route"]
        ('4915112345678', 'mm')
    """

    def __init__(self, catalog: TemplateCatalog, *, path: Path | None = None) -> None:
        self.catalog = catalog
        self.path = path
        # Random per run: wamids must not repeat when a pipeline's store outlives a sandbox.
        self._prefix = os.urandom(14)
        self._to: list[str] = []
        self._endpoint = array("b")
        self._route = array("b")
        self._category = array("b")
        self._template = array("H")
        self._accepted_at = array("d")
        self._fate = array("b")
        self._error_code = array("i")
        self._ttl = array("i")
        self._sharing = array("b")
        self._held = array("b")
        # Only Cloud sends may carry it, and few do: a sparse dict costs nothing otherwise.
        self._opaque: dict[int, str] = {}
        self._event_code = array("q")
        self._event_ts = array("q")
        self._written_messages = 0
        self._written_events = 0
        self._file: IO[bytes] | None = None

    # Messages.

    def add_message(
        self,
        *,
        to: str,
        endpoint: int,
        route: int,
        category: int,
        template_index: int,
        accepted_at: float,
        fate: int,
        error_code: int,
        ttl_seconds: int,
        activity_sharing: bool,
        held: bool,
        biz_opaque_callback_data: str | None = None,
    ) -> int:
        """Record an accepted message; returns its index."""
        if biz_opaque_callback_data is not None:
            self._opaque[len(self._to)] = biz_opaque_callback_data
        self._to.append(to)
        self._endpoint.append(endpoint)
        self._route.append(route)
        self._category.append(category)
        self._template.append(template_index)
        self._accepted_at.append(accepted_at)
        self._fate.append(fate)
        self._error_code.append(error_code)
        self._ttl.append(ttl_seconds)
        self._sharing.append(activity_sharing)
        self._held.append(held)
        return len(self._to) - 1

    @property
    def message_count(self) -> int:
        """Messages accepted so far."""
        return len(self._to)

    def wamid(self, index: int) -> str:
        """The wamid of message `index`."""
        return "wamid." + base64.b64encode(self._prefix + index.to_bytes(4, "big")).decode()

    def wa_id(self, index: int) -> str:
        """The recipient of message `index` as a WhatsApp id (digits only)."""
        return self._to[index].lstrip("+")

    def route_is_mm(self, index: int) -> bool:
        """Whether message `index` went out through MM."""
        return self._route[index] == 0

    def pricing_category(self, index: int) -> str:
        """The `pricing.category` of message `index`."""
        return PRICING_CATEGORIES[self._category[index]]

    def error_code(self, index: int) -> int:
        """The error code of a failed or dropped message (0 otherwise)."""
        return self._error_code[index]

    def opaque_data(self, index: int) -> str | None:
        """The `biz_opaque_callback_data` sent with message `index`, if any."""
        return self._opaque.get(index)

    def template_index(self, index: int) -> int:
        """The catalog index of message `index`'s template."""
        return self._template[index]

    def click_ids(self, index: int) -> tuple[str, str]:
        """The `click_id` and `tracking_token` of a click on message `index`."""
        digest = hashlib.blake2b(self._prefix + index.to_bytes(4, "big"), digest_size=16)
        hexed = digest.hexdigest()
        return "ARA" + hexed[:16], hexed[16:]

    def message_record(self, index: int) -> dict[str, Any]:
        """Message `index` as a JSON-ready record."""
        template = self.catalog.entries[self._template[index]].template
        code = self._error_code[index]
        return {
            "wamid": self.wamid(index),
            "to": self._to[index],
            "wa_id": self.wa_id(index),
            "endpoint": ENDPOINT_NAMES[self._endpoint[index]],
            "route": ROUTE_NAMES[self._route[index]],
            "pricing_category": PRICING_CATEGORIES[self._category[index]],
            "template": template.name,
            "language": template.language,
            "message_status": MESSAGE_STATUSES[self._held[index]],
            "accepted_at": self._accepted_at[index],
            "fate": FATE_NAMES[self._fate[index]],
            "error_code": code or None,
            "ttl_seconds": self._ttl[index],
            "activity_sharing": bool(self._sharing[index]),
        }

    # Events.

    def add_event(self, code: int, ts: int) -> None:
        """Record a delivered event (`code` packs index, duplicate flag and kind)."""
        self._event_code.append(code)
        self._event_ts.append(ts)

    @property
    def event_count(self) -> int:
        """Events delivered so far (duplicates included)."""
        return len(self._event_code)

    def event_record(self, position: int) -> dict[str, Any]:
        """Delivered event number `position` as a JSON-ready record.

        Clicks and preferences carry the wamid of the message that led to them, which the
        webhook itself does not say.
        """
        code = self._event_code[position]
        kind = code & KIND_MASK
        index = code >> INDEX_SHIFT
        record: dict[str, Any] = {
            "kind": _EVENT_KIND[kind],
            "wamid": self.wamid(index),
            "status": EVENT_NAMES[kind],
            "ts": self._event_ts[position],
            "duplicate": bool(code & DUP_FLAG),
        }
        if kind == KIND_FAILED:
            record["error_code"] = self._error_code[index]
        elif kind == KIND_CLICK:
            record["click_id"], record["tracking_token"] = self.click_ids(index)
        elif kind in (KIND_STOP, KIND_RESUME):
            record["wa_id"] = self.wa_id(index)
        return record

    # Output.

    def snapshot(self) -> dict[str, Any]:
        """`{"messages": [...], "events": [...]}` for `GET /sandbox/ground_truth`."""
        return {
            "messages": [self.message_record(i) for i in range(self.message_count)],
            "events": [self.event_record(j) for j in range(self.event_count)],
        }

    def iter_json(self, chunk: int = 5000) -> Iterator[bytes]:
        """The snapshot as JSON in pieces, so a million messages never sit in memory as dicts.

        Records accepted while iterating are left out: the counts are taken at the start.
        """
        counts = (self.message_count, self.event_count)
        records = (self.message_record, self.event_record)
        for part, (name, count, record) in enumerate(
            zip(("messages", "events"), counts, records, strict=True)
        ):
            yield (b'{"' if part == 0 else b'],"') + name.encode() + b'":['
            for start in range(0, count, chunk):
                piece = b",".join(
                    orjson.dumps(record(i)) for i in range(start, min(count, start + chunk))
                )
                yield piece if start == 0 else b"," + piece
        yield b"]}"

    def fate_counts(self) -> dict[str, int]:
        """Accepted messages per fate."""
        counts = dict.fromkeys(FATE_NAMES, 0)
        for fate in self._fate:
            counts[FATE_NAMES[fate]] += 1
        return counts

    def write_pending(self) -> None:
        """Append records not yet written to the NDJSON file (when a path is set)."""
        if self.path is None:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
        lines = [
            orjson.dumps({"record": "message", **self.message_record(i)})
            for i in range(self._written_messages, self.message_count)
        ]
        lines += [
            orjson.dumps({"record": "event", **self.event_record(j)})
            for j in range(self._written_events, self.event_count)
        ]
        self._written_messages = self.message_count
        self._written_events = self.event_count
        if lines:
            self._file.write(b"\n".join(lines) + b"\n")
            self._file.flush()

    def close(self) -> None:
        """Write what is pending and close the NDJSON file."""
        self.write_pending()
        if self._file is not None:
            self._file.close()
            self._file = None
