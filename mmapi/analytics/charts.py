"""The report's charts as PNG bytes, drawn with matplotlib's object API (no pyplot state).

Each chart sums its figures over the campaigns of the report, per assigned arm: a report is
usually one campaign, and its per-campaign numbers are in the tables beside the charts.
"""

from __future__ import annotations

import io
from collections import defaultdict
from decimal import Decimal
from typing import Any

from matplotlib.figure import Figure

__all__ = [
    "ARM_COLORS",
    "cost_per_read_chart",
    "delivery_curve_chart",
    "failure_reasons_chart",
    "funnel_chart",
]

ARM_COLORS = {"mm": "#1f77b4", "cloud": "#ff7f0e"}
_OTHER_COLOR = "#7f7f7f"
_SIZE = (7.0, 3.8)
_DPI = 100

Row = dict[str, Any]


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    # No "Software" stamp: the same data gives the same bytes.
    figure.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()


def _color(arm: str) -> str:
    return ARM_COLORS.get(arm, _OTHER_COLOR)


def _arms(rows: list[Row]) -> list[str]:
    # MM first, Cloud second, anything else after: the same order in every chart.
    found = {str(r["arm"]) for r in rows}
    return sorted(found, key=lambda a: ({"mm": 0, "cloud": 1}.get(a, 2), a))


def _empty(figure: Figure, message: str) -> bytes:
    axes = figure.add_subplot()
    axes.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color="#555555")
    axes.set_axis_off()
    return _png(figure)


def funnel_chart(funnel: list[Row]) -> bytes:
    """Accepted, delivered, read and clicked messages per arm (grouped bars)."""
    figure = Figure(figsize=_SIZE)
    if not funnel:
        return _empty(figure, "No messages in the ledger")
    stages = ("accepted", "delivered", "read", "clicks")
    totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(stages, 0))
    for row in funnel:
        for stage in stages:
            totals[str(row["arm"])][stage] += int(row[stage] or 0)
    axes = figure.add_subplot()
    arms = _arms(funnel)
    width = 0.8 / len(arms)
    for i, arm in enumerate(arms):
        xs = [s + (i - (len(arms) - 1) / 2) * width for s in range(len(stages))]
        values = [totals[arm][stage] for stage in stages]
        bars = axes.bar(xs, values, width=width, label=arm, color=_color(arm))
        base = values[0] or 1
        axes.bar_label(bars, labels=[f"{v / base:.0%}" for v in values], fontsize=8)
    axes.set_xticks(range(len(stages)), list(stages))
    axes.set_ylabel("messages")
    axes.set_title("Funnel by assigned arm (% of accepted)")
    axes.legend()
    return _png(figure)


def delivery_curve_chart(curve: list[Row]) -> bytes:
    """Cumulative share of accepted messages delivered and read, by hours since send."""
    figure = Figure(figsize=_SIZE)
    if not curve:
        return _empty(figure, "No accepted messages")
    sums: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in curve:
        cell = sums[(str(row["arm"]), int(row["hour"]))]
        cell[0] += int(row["accepted"])
        cell[1] += int(row["delivered"])
        cell[2] += int(row["read"])
    axes = figure.add_subplot()
    for arm in _arms(curve):
        hours = sorted(h for a, h in sums if a == arm)
        accepted = [sums[(arm, h)][0] or 1 for h in hours]
        delivered = [sums[(arm, h)][1] / n for h, n in zip(hours, accepted, strict=True)]
        read = [sums[(arm, h)][2] / n for h, n in zip(hours, accepted, strict=True)]
        axes.plot(hours, delivered, color=_color(arm), label=f"{arm} delivered")
        axes.plot(hours, read, color=_color(arm), linestyle="--", label=f"{arm} read")
    axes.set_xlabel("hours since send")
    axes.set_ylabel("share of accepted")
    axes.set_ylim(0, 1)
    axes.set_title("Cumulative delivery and read")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _png(figure)


def cost_per_read_chart(cost_by_arm: list[Row]) -> bytes:
    """Cost per read message per arm; an arm whose cost is incomplete is marked, not drawn."""
    figure = Figure(figsize=_SIZE)
    if not cost_by_arm:
        return _empty(figure, "No messages in the ledger")
    cost: dict[str, Decimal] = defaultdict(Decimal)
    reads: dict[str, int] = defaultdict(int)
    complete: dict[str, bool] = defaultdict(lambda: True)
    currency = next((r["currency"] for r in cost_by_arm if r["currency"]), "")
    for row in cost_by_arm:
        arm = str(row["arm"])
        cost[arm] += Decimal(row["cost"] or 0)
        reads[arm] += int(row["read"] or 0)
        complete[arm] = complete[arm] and bool(row["cost_complete"])
    axes = figure.add_subplot()
    arms = _arms(cost_by_arm)
    values = [float(cost[a]) / reads[a] if complete[a] and reads[a] else 0.0 for a in arms]
    bars = axes.bar(arms, values, color=[_color(a) for a in arms])
    labels = []
    for arm, value in zip(arms, values, strict=True):
        if not complete[arm]:
            labels.append("rate gaps: n/a")
        elif not reads[arm]:
            labels.append("no reads")
        else:
            labels.append(f"{value:.4f}")
    axes.bar_label(bars, labels=labels, fontsize=9)
    axes.set_ylabel(f"cost per read ({currency})" if currency else "cost per read")
    axes.set_title("Cost per read by assigned arm")
    axes.margins(y=0.2)
    return _png(figure)


def failure_reasons_chart(failures: list[Row], funnel: list[Row]) -> bytes:
    """Messages not delivered, by reason (error code, or TTL expiry), per arm."""
    figure = Figure(figsize=_SIZE)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for row in failures:
        if row["failed"]:
            title = str(row["error_title"] or "")
            short = title if len(title) <= 34 else title[:33] + "…"
            label = f"{row['error_code']} {short}".strip()
            counts[(label, str(row["arm"]))] += int(row["failed"])
    for row in funnel:
        if row["expired"]:
            counts[("expired (TTL passed)", str(row["arm"]))] += int(row["expired"])
    if not counts:
        return _empty(figure, "No failed or expired messages")
    reasons = sorted({r for r, _ in counts}, key=lambda r: -sum(counts[(r, a)] for a in ARM_COLORS))
    arms = sorted({a for _, a in counts}, key=lambda a: ({"mm": 0, "cloud": 1}.get(a, 2), a))
    axes = figure.add_subplot()
    height = 0.8 / len(arms)
    for i, arm in enumerate(arms):
        ys = [y + (i - (len(arms) - 1) / 2) * height for y in range(len(reasons))]
        axes.barh(
            ys, [counts[(r, arm)] for r in reasons], height=height, label=arm, color=_color(arm)
        )
    axes.set_yticks(range(len(reasons)), reasons, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("messages")
    axes.set_title("Why messages were not delivered")
    axes.legend()
    return _png(figure)
