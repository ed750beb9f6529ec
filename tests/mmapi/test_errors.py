"""The error taxonomy: one action and one exception class per code of DOMAIN.md section 2."""

from __future__ import annotations

import inspect

import pytest

import mmapi.errors
from mmapi.errors import (
    ERROR_ACTIONS,
    RETRY_AFTER_SECONDS,
    Action,
    APIError,
    AuthenticationError,
    CampaignStopError,
    ConfigurationError,
    ExtractError,
    InvalidRequestError,
    MMAPIError,
    OutcomeUnknownError,
    PermanentRecipientError,
    RateCardError,
    RateLimitError,
    RecipientDeferredError,
    RetryableError,
    SpecError,
    SuppressionListError,
    TemplateMismatchError,
    TransportError,
    TTLValidationError,
    WarehouseUnreachableError,
    action_for,
    classify,
)
from mmapi.settings import D360_RATE_LIMIT_TEXT

RETRY = Action.RETRY
LATER = Action.RETRY_RECIPIENT_LATER
NEVER = Action.NEVER_RETRY
STOP = Action.STOP_CAMPAIGN
FIX = Action.FIX_REQUEST

# (code, HTTP status from DOMAIN.md ("?" → 400), action column, class classify must pick).
DOMAIN_TABLE = [
    (130429, 400, RETRY, RateLimitError),  # throughput cap: back off
    (131056, 400, LATER, RecipientDeferredError),  # pair limit: retry recipient later
    (131049, 400, LATER, RecipientDeferredError),  # per-user cap: recipient after >= 24 h
    (131050, 400, NEVER, PermanentRecipientError),  # user stopped marketing: never retry
    (130472, 400, NEVER, PermanentRecipientError),  # Meta experiment: never retry
    (131026, 400, NEVER, PermanentRecipientError),  # undeliverable: never retry
    (131047, 400, FIX, InvalidRequestError),  # 24 h window: fix request
    (131048, 400, STOP, CampaignStopError),  # spam-rate limit: stop campaign
    (131000, 500, RETRY, RetryableError),  # unknown: back off
    (131008, 400, FIX, InvalidRequestError),  # bad param: fix request
    (131009, 400, FIX, InvalidRequestError),  # bad param / ad sync: fix request
    (132000, 400, FIX, InvalidRequestError),  # param count: fix request
    (132012, 400, FIX, InvalidRequestError),  # param format: fix request
    (132001, 404, FIX, InvalidRequestError),  # no such template: fix request
    (132015, 400, STOP, CampaignStopError),  # template paused: stop campaign
    (132016, 400, STOP, CampaignStopError),  # template disabled: stop campaign
    (131057, 500, RETRY, RetryableError),  # maintenance: retry ~1 min
    (131055, 400, FIX, InvalidRequestError),  # non-marketing on MM: fix request
    (134100, 400, FIX, InvalidRequestError),  # non-marketing on MM: fix request
    (134101, 400, RETRY, RetryableError),  # ad sync: retry in 10 min
    (134102, 500, STOP, CampaignStopError),  # not onboarded: stop campaign
    (131063, 400, FIX, InvalidRequestError),  # WABA blocks marketing on Cloud: send via MM
    (131061, 400, FIX, InvalidRequestError),  # max-price template to /messages: send via MM
    (131042, 400, STOP, CampaignStopError),  # billing: stop campaign
    (100, 400, FIX, InvalidRequestError),  # invalid param: fix request
    (190, 401, STOP, AuthenticationError),  # token expired: stop campaign
    (4, 400, RETRY, RateLimitError),  # call rate: back off
    (80007, 400, RETRY, RateLimitError),  # call rate: back off
    (200, 400, STOP, CampaignStopError),  # "(#200) ... terms": not onboarded
]
DOMAIN_CODES = [row[0] for row in DOMAIN_TABLE]


def make_error(cls: type[APIError], *, http_status: int, code: int | None) -> APIError:
    return cls(
        "POST /marketing_messages: error",
        http_status=http_status,
        code=code,
        title="error",
        method="POST",
        path="/marketing_messages",
    )


def test_domain_table_lists_each_code_once():
    assert len(DOMAIN_CODES) == len(set(DOMAIN_CODES)) == 29


@pytest.mark.parametrize(
    ("code", "http_status", "action", "cls"), DOMAIN_TABLE, ids=[str(c) for c in DOMAIN_CODES]
)
def test_error_code_documented_action_and_class(code, http_status, action, cls):
    assert ERROR_ACTIONS[code] is action
    assert action_for(code, http_status) is action
    assert classify(http_status, code, "some message") is cls
    error = make_error(cls, http_status=http_status, code=code)
    assert error.action is action
    assert error.code == code


@pytest.mark.parametrize(("code", "http_status", "action", "cls"), DOMAIN_TABLE)
def test_error_code_action_independent_of_http_status(code, http_status, action, cls):
    # Webhook errors carry no HTTP status; sync answers may come with an unexpected one.
    assert action_for(code) is action
    assert action_for(code, 503) is action


def test_error_actions_has_no_code_beyond_domain_table():
    assert set(ERROR_ACTIONS) == set(DOMAIN_CODES)


@pytest.mark.parametrize("http_status", [500, 502, 503, 504])
def test_classify_unknown_code_5xx_retryable(http_status):
    assert classify(http_status, 999_999, "oops") is RetryableError
    assert classify(http_status, None, "oops") is RetryableError
    assert action_for(999_999, http_status) is Action.RETRY


@pytest.mark.parametrize("http_status", [400, 403, 404, 409, 422])
def test_classify_unknown_code_4xx_invalid_request(http_status):
    assert classify(http_status, 999_999, "oops") is InvalidRequestError
    assert classify(http_status, None, "oops") is InvalidRequestError
    assert action_for(999_999, http_status) is Action.FIX_REQUEST


def test_classify_401_without_code_authentication_error():
    assert classify(401, None, "Invalid api token.") is AuthenticationError
    error = make_error(AuthenticationError, http_status=401, code=None)
    assert error.action is Action.STOP_CAMPAIGN


@pytest.mark.parametrize(
    "message",
    [
        "You have exceeded the endpoint rate limit",
        "EXCEEDED THE ENDPOINT RATE LIMIT",
        f"{{'detail': 'You {D360_RATE_LIMIT_TEXT}'}}",
    ],
)
def test_classify_360dialog_rate_limit_text_at_400_rate_limit_error(message):
    cls = classify(400, None, message)

    assert cls is RateLimitError
    # The instance must agree with its class: a rate limit is retried, not "fixed".
    assert make_error(cls, http_status=400, code=None).action is Action.RETRY


@pytest.mark.parametrize(
    ("http_status", "code", "action"),
    [
        (401, 131000, Action.STOP_CAMPAIGN),  # 401 wins: AuthenticationError
        (400, None, Action.FIX_REQUEST),
        (503, None, Action.RETRY),
        (429, None, Action.RETRY),
    ],
)
def test_classify_instance_action_agrees_with_class(http_status, code, action):
    cls = classify(http_status, code, "")

    assert make_error(cls, http_status=http_status, code=code).action is action


def test_classify_400_without_code_or_rate_limit_text_invalid_request():
    assert classify(400, None, "Bad request") is InvalidRequestError


def test_classify_rate_limit_text_does_not_override_a_documented_code():
    assert classify(400, 131009, D360_RATE_LIMIT_TEXT) is InvalidRequestError


@pytest.mark.parametrize(
    ("code", "seconds"), [(131057, 60.0), (134101, 600.0), (131049, 24 * 3600.0)]
)
def test_api_error_retry_after_for_code(code, seconds):
    error = make_error(classify(400, code, ""), http_status=400, code=code)

    assert RETRY_AFTER_SECONDS[code] == seconds
    assert error.retry_after == seconds


@pytest.mark.parametrize("code", [130429, 131000, 131056, 100, None])
def test_api_error_retry_after_none_for_other_codes(code):
    assert make_error(APIError, http_status=400, code=code).retry_after is None


def test_api_error_keeps_request_and_answer():
    error = APIError(
        "POST /messages: HTTP 400 (100) bad",
        http_status=400,
        code=100,
        title="bad",
        details="param x",
        body={"error": {"code": 100}},
        method="POST",
        path="/messages",
    )

    assert (error.method, error.path, error.http_status) == ("POST", "/messages", 400)
    assert (error.code, error.title, error.details) == (100, "bad", "param x")
    assert error.body == {"error": {"code": 100}}
    assert str(error) == "POST /messages: HTTP 400 (100) bad"


def error_classes() -> list[type]:
    return [
        obj
        for name in mmapi.errors.__all__
        if inspect.isclass(obj := getattr(mmapi.errors, name)) and issubclass(obj, Exception)
    ]


INPUT_ERRORS = {
    SpecError,
    TemplateMismatchError,
    SuppressionListError,
    RateCardError,
    ExtractError,
    WarehouseUnreachableError,
}


def test_api_error_classes_all_subclass_mmapi_error():
    api_classes = [cls for cls in error_classes() if cls not in {*INPUT_ERRORS, ConfigurationError}]

    assert len(api_classes) == 12
    assert all(issubclass(cls, MMAPIError) for cls in api_classes)


def test_input_errors_carry_no_api_request():
    assert not any(issubclass(cls, MMAPIError) for cls in {*INPUT_ERRORS, ConfigurationError})
    assert issubclass(TemplateMismatchError, SpecError)
    assert issubclass(SuppressionListError, SpecError)
    assert issubclass(SpecError, ValueError)
    assert issubclass(RateCardError, ValueError)
    assert issubclass(WarehouseUnreachableError, ExtractError)


@pytest.mark.parametrize(
    ("cls", "parent"),
    [
        (TTLValidationError, ValueError),
        (TransportError, MMAPIError),
        (OutcomeUnknownError, MMAPIError),
        (APIError, MMAPIError),
        (RetryableError, APIError),
        (RateLimitError, RetryableError),
        (RecipientDeferredError, APIError),
        (PermanentRecipientError, APIError),
        (InvalidRequestError, APIError),
        (CampaignStopError, APIError),
        (AuthenticationError, CampaignStopError),
    ],
)
def test_error_hierarchy_parent(cls, parent):
    assert issubclass(cls, parent)


@pytest.mark.parametrize(
    ("cls", "not_parent"),
    [
        (TransportError, APIError),
        (OutcomeUnknownError, APIError),
        (OutcomeUnknownError, TransportError),
        (RecipientDeferredError, RetryableError),
        (AuthenticationError, RetryableError),
        (APIError, ValueError),
    ],
)
def test_error_hierarchy_separates_branches(cls, not_parent):
    assert not issubclass(cls, not_parent)


def test_ttl_validation_error_caught_as_value_error():
    with pytest.raises(ValueError, match="ttl"):
        raise TTLValidationError("ttl out of range")
