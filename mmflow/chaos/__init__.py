"""`mmflow chaos`: a campaign end to end against the sandbox under a fault schedule, scored
against the sandbox's ground truth (nothing sent twice or never, every acknowledged webhook
landed once, the report equal to the truth by arm and status)."""

from .run import ChaosError, run_chaos
from .settings import DEFAULT_CHAOS_RECIPIENTS, ChaosSettings, short_chaos_settings

__all__ = [
    "DEFAULT_CHAOS_RECIPIENTS",
    "ChaosError",
    "ChaosSettings",
    "run_chaos",
    "short_chaos_settings",
]
