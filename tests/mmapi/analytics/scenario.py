"""The hand-made campaign of the analytics tests, whose every number is worked out by hand.

Campaign c1, template spring_sale, TTL 12 h, all sent at T0, business number P1; the report
is as of T0 + 13 h (so 12 h TTLs have passed). Ledger and webhooks:

| key | arm | country | webhooks (in file order) | final_status |
|---|---|---|---|---|
| m1 | mm | AR | read +30m, sent +1m, delivered +10m, delivered +10m (dup) | read |
| m2 | mm | AR | sent +1m, read +20m (no delivered) | read |
| m3 | mm | AR | sent, delivered +5m, failed 131026 +50m | delivered, failed after |
| m4 | mm | AR | sent +1m priced `marketing` (fallback to Cloud) | expired |
| m5 | mm | BR | sent +1m; TTL 48 h | sent (pending) |
| m6 | mm | BR | delivered +2h (no BR rate) | delivered |
| m7 | mm | AR | state unknown (no wamid) | unknown |
| c1 | cloud | AR | sent, delivered +3m priced `marketing` | delivered |
| c2 | cloud | AR | failed 131049 +2m | failed |
| c3 | cloud | AR | none | expired |
| c4 | cloud | AR | sent, delivered, read +40m priced `marketing_lite` (contamination) | read |
| c5 | cloud | AR | state rejected | rejected |
| - | - | - | wamid.ghost: delivered twice, priced `marketing` | (unknown wamid) |

MM-routed = priced marketing_lite: m1 m2 m3 m5 m6 (mm arm), c4 (cloud arm).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .helpers import at, click, send, status, write_events, write_sends

AS_OF = at(hours=13)
LITE = "marketing_lite"
CLOUD = "marketing"


@dataclass
class Inputs:
    sends: Path
    events: Path


def write_scenario(root: Path) -> Inputs:
    """Write the campaign of the module docstring under `root`."""
    sends = [
        send("m1", "mm"),
        send("m2", "mm"),
        send("m3", "mm"),
        send("m4", "mm"),
        send("m5", "mm", country="BR", ttl=172_800),
        send("m6", "mm", country="BR"),
        send("m7", "mm", state="unknown"),
        send("c1", "cloud"),
        send("c2", "cloud"),
        send("c3", "cloud"),
        send("c4", "cloud"),
        send("c5", "cloud", state="rejected"),
    ]
    statuses = [
        # m1 out of order, with a duplicate.
        status("wamid.m1", "read", at(30), category=LITE),
        status("wamid.m1", "sent", at(1), category=LITE),
        status("wamid.m1", "delivered", at(10), category=LITE),
        status("wamid.m1", "delivered", at(10), category=LITE),
        status("wamid.m2", "sent", at(1), category=LITE),
        status("wamid.m2", "read", at(20), category=LITE),
        status("wamid.m3", "sent", at(1), category=LITE),
        status("wamid.m3", "delivered", at(5), category=LITE),
        status("wamid.m3", "failed", at(50), code=131026),
        status("wamid.m4", "sent", at(1), category=CLOUD),
        status("wamid.m5", "sent", at(1), category=LITE),
        status("wamid.m6", "delivered", at(hours=2), category=LITE),
        status("wamid.c1", "sent", at(1), category=CLOUD),
        status("wamid.c1", "delivered", at(3), category=CLOUD),
        status("wamid.c2", "failed", at(2), code=131049),
        status("wamid.c4", "sent", at(1), category=LITE),
        status("wamid.c4", "delivered", at(2), category=LITE),
        status("wamid.c4", "read", at(40), category=LITE),
        status("wamid.ghost", "delivered", at(5), category=CLOUD),
        status("wamid.ghost", "delivered", at(5), category=CLOUD),
    ]
    inputs = Inputs(sends=write_sends(root / "sends.parquet", sends), events=root / "landing")
    write_events(inputs.events, "statuses", statuses)
    # Both arms had MM-routed messages: the campaign is known, the arm is not.
    write_events(inputs.events, "clicks", [click("k1", at(35))])
    (inputs.events / "events" / "preferences").mkdir(parents=True)
    return inputs
