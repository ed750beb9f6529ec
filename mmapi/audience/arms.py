"""The canonical arm assignment and message key: one SHA-256 of `<campaign_id>:<recipient>`.

Both come from the same digest, so they are stable across re-runs and machines and do not
depend on row order or on which other recipients are in the segment:

- `message_key`: the first 32 hex characters (128 bits) of the digest.
- arm: the first 8 bytes as an unsigned integer `u`; the recipient is in the MM arm when
  `u < floor(mm_share * 2**64)`, else in the Cloud arm. Each recipient lands in MM with
  probability `mm_share`, independently of the others.

`arm_of` and `message_key` do one recipient in Python; `assign_arms` does a whole column in
DuckDB (`sql/audience/message_keys.sql`) with the same results (tested).
"""

from __future__ import annotations

import hashlib

import duckdb
import pyarrow as pa

from ..campaign import ArmSplit
from ..sql import load_sql

__all__ = ["arm_of", "arm_threshold", "assign_arms", "message_key"]

_SPACE = 2**64
# Sorts after every hex digit: with mm_share = 1 every 16-hex-digit prefix compares below it.
_ALL_MM = "g"


def _share(arms: ArmSplit | float) -> float:
    return arms.mm if isinstance(arms, ArmSplit) else float(arms)


def arm_threshold(arms: ArmSplit | float) -> int:
    """The integer below which a digest's first 8 bytes put a recipient in the MM arm.

    Example:
        >>> arm_threshold(0.5) == 2**63
        True
    """
    share = min(1.0, max(0.0, _share(arms)))
    # share * 2**64 is exact in binary floating point (a power-of-two scale), so the floor
    # is the same on every machine.
    return int(share * _SPACE)


def _digest(campaign_id: str, recipient: str) -> bytes:
    return hashlib.sha256(f"{campaign_id}:{recipient}".encode()).digest()


def message_key(campaign_id: str, recipient: str) -> str:
    """Stable key of one message: 32 hex characters of SHA-256(`campaign_id:recipient`).

    Example:
        >>> len(message_key("spring-sale", "4915123456789"))
        32
    """
    return _digest(campaign_id, recipient).hex()[:32]


def arm_of(campaign_id: str, recipient: str, arms: ArmSplit | float = 1.0) -> str:
    """The arm (`mm` or `cloud`) of one recipient in a campaign.

    Args:
        campaign_id: The campaign; another campaign reshuffles the arms.
        recipient: E.164 digits without '+'.
        arms: The split, or the MM share as a number (1.0 = everyone on MM).

    Example:
        >>> arm_of("spring-sale", "4915123456789", ArmSplit(mm=1.0, cloud=0.0))
        'mm'
    """
    value = int.from_bytes(_digest(campaign_id, recipient)[:8], "big")
    return "mm" if value < arm_threshold(arms) else "cloud"


def assign_arms(
    campaign_id: str, recipients: pa.Array | pa.ChunkedArray, arms: ArmSplit | float
) -> tuple[pa.Array, pa.Array]:
    """Message keys and arms of a column of recipients, vectorised in DuckDB.

    Args:
        campaign_id: The campaign.
        recipients: E.164 digits without '+', no nulls.
        arms: The split, or the MM share.

    Returns:
        Two string arrays in the input's order: message_key and arm.
    """
    threshold = arm_threshold(arms)
    threshold_hex = _ALL_MM if threshold >= _SPACE else f"{threshold:016x}"
    table = pa.table({"recipient": recipients})
    with duckdb.connect() as connection:
        connection.register("recipients", table)
        result = connection.sql(
            load_sql("audience/message_keys"),
            params={"campaign_id": campaign_id, "threshold_hex": threshold_hex},
        ).to_arrow_table()
    return result.column("message_key").combine_chunks(), result.column("arm").combine_chunks()
