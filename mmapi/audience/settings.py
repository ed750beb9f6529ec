"""Limits and defaults of extract and prepare; only UPPER_CASE constants live here."""

__all__ = [
    "AUDIENCE_FILE",
    "BODY_TEXT_MAX_CHARS",
    "BUTTON_TEXT_MAX_CHARS",
    "COUPON_CODE_MAX_CHARS",
    "CURRENCY_AMOUNT_MAX",
    "DEFAULT_BATCH_ROWS",
    "DUCKDB_MEMORY_LIMIT",
    "HEADER_TEXT_MAX_CHARS",
    "MAX_PHONE_CHARS",
    "MEDIA_URL_MAX_CHARS",
    "PLAN_FILE",
    "RAW_PREVIEW_CHARS",
    "REJECTS_FILE",
    "SUPPRESSION_LIST_FILE",
]

AUDIENCE_FILE = "audience.parquet"
PLAN_FILE = "plan.parquet"
REJECTS_FILE = "rejects.parquet"
SUPPRESSION_LIST_FILE = "suppression_list.parquet"

# Rows per Arrow record batch (and Parquet row group): ~10-50 MB for a typical segment row,
# so extract and prepare hold a few batches at a time whatever the segment's size.
DEFAULT_BATCH_ROWS = 65_536
# DuckDB spills to disk past this, so a big warehouse query cannot take the machine's memory.
DUCKDB_MEMORY_LIMIT = "512MB"

# A phone number has at most 15 digits; 64 characters leaves room for any formatting people
# use. Longer values are rejected unread, so a 10 MB string costs one length check.
MAX_PHONE_CHARS = 64
# `recipient_raw` in rejects.parquet keeps this many characters of the value.
RAW_PREVIEW_CHARS = 256

# Template parameter limits (Meta's template rules).
BODY_TEXT_MAX_CHARS = 1024
HEADER_TEXT_MAX_CHARS = 60
BUTTON_TEXT_MAX_CHARS = 2000  # a URL button's dynamic suffix: URLs are capped at 2,000 chars
COUPON_CODE_MAX_CHARS = 15
MEDIA_URL_MAX_CHARS = 2000
# amount_1000 is an int64; no campaign offers more than this in one currency unit.
CURRENCY_AMOUNT_MAX = 1_000_000_000
