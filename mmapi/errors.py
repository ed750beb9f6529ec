"""Every error the MM API client raises, and what a sender must do about each API error code.

Exception tree::

    MMAPIError                      root; carries the request (method, path) when there is one
    ├── TTLValidationError          a TTL outside the documented range (also a ValueError)
    ├── TransportError              the request never reached the API: safe to send again
    ├── OutcomeUnknownError         the request left but no answer came: it may have been accepted
    └── APIError                    the API answered with an error (code, title, details, action)
        ├── RetryableError          back off and retry the same request
        │   └── RateLimitError      130429, 80007, 4, or 360dialog's endpoint rate limit
        ├── RecipientDeferredError  retry this recipient later (131056 pair limit, 131049)
        ├── PermanentRecipientError never retry this recipient (131050, 131026, 130472)
        ├── InvalidRequestError     the request must be fixed (parameters, template, endpoint)
        └── CampaignStopError       stop the whole campaign (auth, account, template, payment)
            └── AuthenticationError bad or expired key (HTTP 401, 190)

Input and set-up errors carry no API request, so they have their own roots::

    SpecError (a ValueError)        a campaign spec is invalid (names the file and the field)
    ├── TemplateMismatchError       the spec's parameters do not fit the template or the segment
    └── SuppressionListError        a suppression list the spec names is unusable
    RateCardError (a ValueError)    a rate card is unusable (names the file, line and column)
    ExtractError                    the segment could not be read (query failed, file missing)
    └── WarehouseUnreachableError   the warehouse did not answer or could not be opened
    ConfigurationError              a setting a flow needs is missing (API key, block name)

Every message is one line and never holds a secret: not the API key, not a password.

Retries are chosen by class (or by `Action`), never by matching message text; the one
exception is 360dialog's own rate-limit answer, which has no code and is recognised once,
in `classify`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from .settings import D360_RATE_LIMIT_TEXT

__all__ = [
    "ERROR_ACTIONS",
    "RETRY_AFTER_SECONDS",
    "APIError",
    "Action",
    "AuthenticationError",
    "CampaignStopError",
    "ConfigurationError",
    "ExtractError",
    "InvalidRequestError",
    "MMAPIError",
    "OutcomeUnknownError",
    "PermanentRecipientError",
    "RateCardError",
    "RateLimitError",
    "RecipientDeferredError",
    "RetryableError",
    "SpecError",
    "SuppressionListError",
    "TTLValidationError",
    "TemplateMismatchError",
    "TransportError",
    "WarehouseUnreachableError",
    "action_for",
    "classify",
]


class Action(StrEnum):
    """What a sender does when a message meets an error code."""

    RETRY = "retry"
    """Back off (exponentially, with jitter) and send the same request again."""
    RETRY_RECIPIENT_LATER = "retry_recipient_later"
    """Leave this recipient for later in the run (or a later run); others go on."""
    NEVER_RETRY = "never_retry"
    """Permanent for this recipient: record and move on."""
    STOP_CAMPAIGN = "stop_campaign"
    """Nothing else will succeed until a person acts: stop cleanly, keep the rest planned."""
    FIX_REQUEST = "fix_request"
    """The request is wrong; sending it again as it is cannot succeed."""


# One action per code of DOMAIN.md section 2. Codes seen only in webhooks are here too,
# because suppression and analytics ask the same question of them.
ERROR_ACTIONS: dict[int, Action] = {
    4: Action.RETRY,  # application call rate
    100: Action.FIX_REQUEST,  # invalid parameter
    190: Action.STOP_CAMPAIGN,  # access token expired
    200: Action.STOP_CAMPAIGN,  # "(#200) ... terms": MM terms not accepted
    80007: Action.RETRY,  # WABA call rate
    130429: Action.RETRY,  # throughput cap
    130472: Action.NEVER_RETRY,  # part of a Meta experiment (free, not delivered)
    131000: Action.RETRY,  # unknown error
    131008: Action.FIX_REQUEST,  # required parameter missing
    131009: Action.FIX_REQUEST,  # parameter value invalid (on MM: ad sync pending)
    131026: Action.NEVER_RETRY,  # undeliverable
    131042: Action.STOP_CAMPAIGN,  # payment problem
    131047: Action.FIX_REQUEST,  # outside the 24 h window with a non-template message
    131048: Action.STOP_CAMPAIGN,  # spam-rate limit
    131049: Action.RETRY_RECIPIENT_LATER,  # per-user marketing cap: after >= 24 h
    131050: Action.NEVER_RETRY,  # user stopped marketing messages
    131055: Action.FIX_REQUEST,  # method not allowed (non-marketing on MM)
    131056: Action.RETRY_RECIPIENT_LATER,  # pair rate limit
    131057: Action.RETRY,  # account in maintenance
    131061: Action.FIX_REQUEST,  # max-price template sent to /messages: send via MM
    131063: Action.FIX_REQUEST,  # WABA blocks marketing on Cloud: send via MM
    132000: Action.FIX_REQUEST,  # parameter count mismatch
    132001: Action.FIX_REQUEST,  # template does not exist
    132012: Action.FIX_REQUEST,  # parameter format mismatch
    132015: Action.STOP_CAMPAIGN,  # template paused
    132016: Action.STOP_CAMPAIGN,  # template disabled
    134100: Action.FIX_REQUEST,  # non-marketing template on MM
    134101: Action.RETRY,  # ad sync in progress: retry in about 10 minutes
    134102: Action.STOP_CAMPAIGN,  # WABA not onboarded to MM
}

# Codes whose retry must wait at least this long, whatever the backoff says.
RETRY_AFTER_SECONDS: dict[int, float] = {
    131057: 60.0,
    134101: 600.0,
    131049: 24 * 3600.0,
}


def action_for(code: int | None, http_status: int | None = None) -> Action:
    """The action for an API error code; unknown codes fall back on the HTTP status.

    Args:
        code: Meta's numeric error code, if the answer carried one.
        http_status: The HTTP status of the answer.

    Returns:
        The documented action, or RETRY for unknown 5xx/429 and FIX_REQUEST for other unknowns.

    Example:
        >>> action_for(131056)
        <Action.RETRY_RECIPIENT_LATER: 'retry_recipient_later'>
    """
    if code is not None and code in ERROR_ACTIONS:
        return ERROR_ACTIONS[code]
    if http_status == 401:
        return Action.STOP_CAMPAIGN
    if http_status is not None and (http_status >= 500 or http_status == 429):
        return Action.RETRY
    return Action.FIX_REQUEST


class MMAPIError(Exception):
    """Root of every error raised by `mmapi`.

    Attributes:
        method: HTTP method of the request that failed, if any.
        path: URL path of the request (never the key, which travels in a header).
    """

    def __init__(self, message: str, *, method: str | None = None, path: str | None = None):
        super().__init__(message)
        self.method = method
        self.path = path


class TTLValidationError(MMAPIError, ValueError):
    """Raised when a TTL is outside the documented range or step for its template category."""


class TransportError(MMAPIError):
    """Raised when the request could not be delivered to the API (connect failure, pool timeout)."""


class OutcomeUnknownError(MMAPIError):
    """Raised when the request left but no answer came (read timeout, dropped connection).

    The message may have been accepted: it must be reconciled, never silently sent again.
    """


class APIError(MMAPIError):
    """Raised when the API answered with an error.

    Attributes:
        http_status: HTTP status of the answer.
        code: Meta's error code (None for 360dialog's own answers without one).
        title: Short error title or message.
        details: `error_data.details`, when given.
        action: What to do about it (see `Action`).
        retry_after: Minimum seconds before a retry makes sense, if the code implies one.
        body: The parsed error body, for logs and the ledger.
    """

    # The action a subclass stands for; it wins over the code so `action` agrees with the class.
    _action: ClassVar[Action | None] = None

    def __init__(
        self,
        message: str,
        *,
        http_status: int,
        code: int | None = None,
        title: str | None = None,
        details: str | None = None,
        body: Any = None,
        method: str | None = None,
        path: str | None = None,
    ):
        super().__init__(message, method=method, path=path)
        self.http_status = http_status
        self.code = code
        self.title = title
        self.details = details
        self.body = body
        self.action = self._action or action_for(code, http_status)
        self.retry_after = RETRY_AFTER_SECONDS.get(code) if code is not None else None


class RetryableError(APIError):
    """Raised for transient API errors: back off and retry the same request."""

    _action = Action.RETRY


class RateLimitError(RetryableError):
    """Raised when a throughput cap was hit: the sender slows down before it retries."""


class RecipientDeferredError(APIError):
    """Raised when this recipient must wait (pair rate limit, per-user cap); others go on."""

    _action = Action.RETRY_RECIPIENT_LATER


class PermanentRecipientError(APIError):
    """Raised when this recipient can never receive the message: record it and move on."""

    _action = Action.NEVER_RETRY


class InvalidRequestError(APIError):
    """Raised when the request itself is wrong; sending it again unchanged cannot succeed."""

    _action = Action.FIX_REQUEST


class CampaignStopError(APIError):
    """Raised when no further message can succeed until a person acts on the account."""

    _action = Action.STOP_CAMPAIGN


class AuthenticationError(CampaignStopError):
    """Raised when the API key is missing, wrong or expired."""


_RATE_LIMIT_CODES = frozenset({4, 80007, 130429})
_CLASS_BY_ACTION: dict[Action, type[APIError]] = {
    Action.RETRY: RetryableError,
    Action.RETRY_RECIPIENT_LATER: RecipientDeferredError,
    Action.NEVER_RETRY: PermanentRecipientError,
    Action.FIX_REQUEST: InvalidRequestError,
    Action.STOP_CAMPAIGN: CampaignStopError,
}


def classify(
    http_status: int,
    code: int | None,
    message: str,
) -> type[APIError]:
    """Pick the exception class for an error answer.

    Args:
        http_status: HTTP status of the answer.
        code: Meta's error code, if any.
        message: The error's message text (used only to spot 360dialog's rate limit).

    Returns:
        The `APIError` subclass to raise.
    """
    if code in _RATE_LIMIT_CODES or (
        code is None and http_status in (400, 429) and D360_RATE_LIMIT_TEXT in message.lower()
    ):
        return RateLimitError
    if http_status == 401 or code == 190:
        return AuthenticationError
    return _CLASS_BY_ACTION[action_for(code, http_status)]


class SpecError(ValueError):
    """Raised when a campaign spec is invalid; the message names the file and the field."""


class TemplateMismatchError(SpecError):
    """Raised when the spec's parameters do not fit the template or the segment's columns."""


class SuppressionListError(SpecError):
    """Raised when a suppression list is missing, too big, not text or has no number column."""


class RateCardError(ValueError):
    """Raised when a rate card is too big, not UTF-8 CSV, or has a bad column, row or value."""


class ExtractError(RuntimeError):
    """Raised when the segment cannot be read: bad query, missing file, unusable column."""


class WarehouseUnreachableError(ExtractError):
    """Raised when the warehouse cannot be reached or opened (network, auth, lock, no file)."""


class ConfigurationError(RuntimeError):
    """Raised when a setting a flow needs is missing or wrong; the message says how to fix it."""
