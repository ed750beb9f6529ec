"""Arrow schemas of the files the send pipeline writes: the data contracts analysts rely on.

Timestamps are UTC `timestamp[us, tz=UTC]`; phone numbers are E.164 digits without `+`.
A segment's own columns follow the fixed columns in `plan.parquet`.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["PLAN_SCHEMA", "REJECTS_SCHEMA", "SENDS_SCHEMA", "TIMESTAMP"]

TIMESTAMP = pa.timestamp("us", tz="UTC")

PLAN_SCHEMA = pa.schema(
    [
        pa.field("message_key", pa.string(), nullable=False),  # stable hash of campaign + recipient
        pa.field("campaign_id", pa.string(), nullable=False),
        pa.field("recipient", pa.string(), nullable=False),  # E.164 digits, no '+'
        pa.field("country", pa.string()),  # ISO 3166 alpha-2, from the number
        pa.field("arm", pa.string(), nullable=False),  # mm | cloud
        pa.field("template_name", pa.string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("components", pa.string()),  # JSON array of the request's components
        pa.field("source_row", pa.int64(), nullable=False),  # 0-based row in the segment
    ]
)

REJECTS_SCHEMA = pa.schema(
    [
        pa.field("campaign_id", pa.string(), nullable=False),
        pa.field("source_row", pa.int64(), nullable=False),
        pa.field("recipient_raw", pa.string()),  # as the segment had it (truncated to 256 chars)
        pa.field("recipient", pa.string()),  # normalised, when that step passed
        pa.field("column", pa.string()),  # the column at fault
        pa.field("reason", pa.string(), nullable=False),  # invalid_number, duplicate, ...
        pa.field("detail", pa.string()),
    ]
)

SENDS_SCHEMA = pa.schema(
    [
        pa.field("message_key", pa.string(), nullable=False),
        pa.field("campaign_id", pa.string(), nullable=False),
        pa.field("recipient", pa.string(), nullable=False),
        pa.field("country", pa.string()),
        pa.field("arm", pa.string(), nullable=False),
        pa.field("template_name", pa.string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("state", pa.string(), nullable=False),  # ledger state
        pa.field("wamid", pa.string()),
        pa.field("message_status", pa.string()),  # accepted | held_for_quality_assessment | paused
        pa.field("error_code", pa.int64()),
        pa.field("error_title", pa.string()),
        pa.field("attempts", pa.int32(), nullable=False),
        pa.field("ttl_seconds", pa.int64()),  # the template TTL in force at send time
        pa.field("planned_at", TIMESTAMP),
        pa.field("sent_at", TIMESTAMP),  # first request of the message left
        pa.field("finished_at", TIMESTAMP),  # outcome recorded
    ]
)
