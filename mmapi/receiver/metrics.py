"""Request counters of the receiver, served as JSON (`/health`) and Prometheus text (`/metrics`)."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter
from typing import Any

from .segments import SegmentStats

__all__ = ["ACK_BUCKETS_SECONDS", "OUTCOMES", "ReceiverMetrics"]

# Every answer the webhook path gives, by name.
OUTCOMES = (
    "stored",
    "bad_signature",
    "too_large",
    "not_json",
    "bad_request",
    "storage_error",
    "verify_ok",
    "verify_refused",
    "method_not_allowed",
)
# Upper bounds of the answer-time histogram of stored bodies (DOMAIN.md: median <= 250 ms).
ACK_BUCKETS_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class ReceiverMetrics:
    """Counters of answers, stored bytes and answer times.

    Attributes:
        outcomes: Answers by outcome name (see `OUTCOMES`).
        stored_bytes: Body bytes stored.
        started: Unix time the receiver started.

    Example:
        >>> metrics = ReceiverMetrics()
        >>> metrics.count("stored", seconds=0.003)
        >>> metrics.outcomes["stored"], metrics.ack_counts[ACK_BUCKETS_SECONDS.index(0.005)]
        (1, 1)
    """

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter(dict.fromkeys(OUTCOMES, 0))
        self.stored_bytes = 0
        self.started = time.time()
        self.ack_counts = [0] * (len(ACK_BUCKETS_SECONDS) + 1)
        self.ack_seconds = 0.0

    def count(self, outcome: str, *, seconds: float | None = None, size: int = 0) -> None:
        """Count one answer; `seconds` (answer time) and `size` only for stored bodies."""
        self.outcomes[outcome] += 1
        self.stored_bytes += size
        if seconds is not None:
            self.ack_counts[bisect_left(ACK_BUCKETS_SECONDS, seconds)] += 1
            self.ack_seconds += seconds

    def snapshot(self, writers: dict[str, SegmentStats]) -> dict[str, Any]:
        """Everything as JSON-ready data, with the segment writers' counters."""
        return {
            "uptime_seconds": round(time.time() - self.started, 3),
            "answers": dict(self.outcomes),
            "stored_bytes": self.stored_bytes,
            "ack_seconds_sum": round(self.ack_seconds, 6),
            "ack_histogram": dict(
                zip([*map(str, ACK_BUCKETS_SECONDS), "+Inf"], self.ack_counts, strict=True)
            ),
            "writers": {name: _stats_dict(stats) for name, stats in writers.items()},
        }

    def prometheus(self, writers: dict[str, SegmentStats]) -> str:
        """The counters in Prometheus text exposition format."""
        lines = [
            "# TYPE mmflow_receiver_answers_total counter",
            *(
                f'mmflow_receiver_answers_total{{outcome="{name}"}} {count}'
                for name, count in sorted(self.outcomes.items())
            ),
            "# TYPE mmflow_receiver_stored_bytes_total counter",
            f"mmflow_receiver_stored_bytes_total {self.stored_bytes}",
            "# TYPE mmflow_receiver_ack_seconds histogram",
        ]
        cumulative = 0
        for bound, count in zip(ACK_BUCKETS_SECONDS, self.ack_counts[:-1], strict=True):
            cumulative += count
            lines.append(f'mmflow_receiver_ack_seconds_bucket{{le="{bound}"}} {cumulative}')
        cumulative += self.ack_counts[-1]
        lines += [
            f'mmflow_receiver_ack_seconds_bucket{{le="+Inf"}} {cumulative}',
            f"mmflow_receiver_ack_seconds_sum {self.ack_seconds:.6f}",
            f"mmflow_receiver_ack_seconds_count {cumulative}",
        ]
        for name, stats in writers.items():
            for key, value in _stats_dict(stats).items():
                lines.append(f'mmflow_receiver_segment_{key}{{writer="{name}"}} {value}')
        return "\n".join(lines) + "\n"


def _stats_dict(stats: SegmentStats) -> dict[str, int | float]:
    return {
        "lines": stats.lines,
        "bytes": stats.bytes,
        "syncs": stats.syncs,
        "largest_group": stats.largest_group,
        "sync_seconds": round(stats.sync_seconds, 6),
        "segments": stats.segments,
        "failures": stats.failures,
        "recovered_bytes": stats.recovered_bytes,
    }
