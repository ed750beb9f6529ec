"""Fixed facts of the 360dialog / Meta APIs and the project's defaults.

Only UPPER_CASE constants live here; see DOMAIN.md for the sources of each figure.
"""

__all__ = [
    "API_KEY_HEADER",
    "CLOUD_MESSAGES_PATH",
    "D360_RATE_LIMIT_TEXT",
    "D360_SIGNATURE_HEADER",
    "DEFAULT_ARRIVAL_JITTER_SECONDS",
    "DEFAULT_BASE_URL",
    "DEFAULT_BURST_FRACTION",
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_MESSAGES_PER_SECOND",
    "DEFAULT_RETRY_BUDGET_RATIO",
    "DEFAULT_TIMEOUT_SECONDS",
    "MARKETING_MESSAGES_PATH",
    "MARKETING_TTL_DEFAULT_SECONDS",
    "MARKETING_TTL_MAX_SECONDS",
    "MARKETING_TTL_MIN_SECONDS",
    "MARKETING_TTL_STEP_SECONDS",
    "MAX_MESSAGES_PER_SECOND",
    "MAX_RATE_CARD_BYTES",
    "MAX_SPEC_BYTES",
    "MAX_SUPPRESSION_LIST_BYTES",
    "PAIR_RATE_BASE_DELAY_SECONDS",
    "TEMPLATES_PATH",
    "WEBHOOK_SIGNATURE_HEADER",
]

DEFAULT_BASE_URL = "https://waba-v2.360dialog.io"
MARKETING_MESSAGES_PATH = "/marketing_messages"
CLOUD_MESSAGES_PATH = "/messages"
# 360dialog's template management on the waba-v2 host (list with GET, create/edit with POST).
TEMPLATES_PATH = "/v1/configs/templates"

API_KEY_HEADER = "D360-API-KEY"
WEBHOOK_SIGNATURE_HEADER = "X-Hub-Signature-256"
D360_SIGNATURE_HEADER = "x-360dialog-signature"

# 360dialog answers its own rate limit with HTTP 400 and this text instead of a Meta code.
D360_RATE_LIMIT_TEXT = "exceeded the endpoint rate limit"

# Throughput per business number: 80 mps by default, auto-upgraded up to 1,000 mps.
DEFAULT_MESSAGES_PER_SECOND = 80.0
MAX_MESSAGES_PER_SECOND = 1000.0
# Token-bucket burst as a share of the rate: any one-second window then stays within 105% of it.
DEFAULT_BURST_FRACTION = 0.05
# The cap is counted where requests arrive, and the way there (network, the server's own
# scheduling) bunches them: at most the cap leaves in any 1 s + this, so bunching by up to
# this much still keeps any second within the cap, at 1 / (1 + this) of it on average.
DEFAULT_ARRIVAL_JITTER_SECONDS = 0.03
DEFAULT_MAX_IN_FLIGHT = 200
DEFAULT_TIMEOUT_SECONDS = 30.0
# Retries allowed as a share of first attempts, so a storm of errors cannot multiply traffic.
DEFAULT_RETRY_BUDGET_RATIO = 0.2
# Pair rate limit (131056): retry the same recipient after 4**n seconds.
PAIR_RATE_BASE_DELAY_SECONDS = 4.0

# Marketing template TTL (message_send_ttl_seconds): 12 h to 30 d in 1 s steps, default 30 d.
MARKETING_TTL_MIN_SECONDS = 43_200
MARKETING_TTL_MAX_SECONDS = 2_592_000
MARKETING_TTL_STEP_SECONDS = 1
MARKETING_TTL_DEFAULT_SECONDS = 2_592_000

# Size caps on the files people hand the pipeline, checked before a file is read, so a wrong
# file (a warehouse dump passed as a spec) fails with one line instead of filling memory.
# A spec is a page of YAML; a rate card a few thousand rows (countries x categories x dates).
MAX_SPEC_BYTES = 1 << 20  # 1 MiB
MAX_RATE_CARD_BYTES = 16 << 20  # 16 MiB
# About 15 million numbers in a CSV (16 bytes a line); Parquet holds several times more.
# The list is held in memory while the plan is prepared, so this also bounds that memory.
MAX_SUPPRESSION_LIST_BYTES = 256 << 20  # 256 MiB
