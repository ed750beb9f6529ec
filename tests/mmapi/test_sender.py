"""BatchSender's retry rules, with scripted answers from httpx's MockTransport."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict

import httpx
import orjson
import pytest

from mmapi import (
    BatchSender,
    ClientConfig,
    CloudMessageRequest,
    MarketingMessageRequest,
    MMClient,
    OutcomeState,
    OutgoingMessage,
    RetryBudget,
    SendOutcome,
)


def _answer(kind: str, to: str) -> httpx.Response:
    if kind == "ok":
        return httpx.Response(
            200, json={"contacts": [{"input": to}], "messages": [{"id": f"wamid.{to}"}]}
        )
    if kind == "500":
        return httpx.Response(500, json={"error": {"message": "unknown", "code": 131000}})
    if kind == "429":
        return httpx.Response(400, json={"detail": {"error": {"message": "cap", "code": 130429}}})
    if kind == "pair":
        return httpx.Response(400, json={"detail": {"error": {"message": "pair", "code": 131056}}})
    if kind == "stop":
        return httpx.Response(
            400, json={"detail": {"error": {"message": "paused", "code": 132015}}}
        )
    if kind == "bad":
        return httpx.Response(400, json={"detail": {"error": {"message": "count", "code": 132000}}})
    if kind == "drop":
        raise httpx.RemoteProtocolError("server disconnected")
    raise AssertionError(kind)


class Script:
    """Answers per recipient, in order; the last answer repeats. Counts requests."""

    def __init__(self, scripts: dict[str, list[str]], default: str = "ok"):
        self.scripts = scripts
        self.default = default
        self.requests: Counter[str] = Counter()
        self.paths: dict[str, str] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        to = orjson.loads(request.content)["to"]
        script = self.scripts.get(to, [self.default])
        answer = script[min(self.requests[to], len(script) - 1)]
        self.requests[to] += 1
        self.paths[to] = request.url.path
        return _answer(answer, to)


def _messages(count: int, cloud_every: int = 0) -> list[OutgoingMessage]:
    messages = []
    for i in range(count):
        fields = {"to": f"49151000{i:05d}", "template": {"name": "t", "language": {"code": "en"}}}
        cloud = cloud_every and i % cloud_every == 0
        request = CloudMessageRequest(**fields) if cloud else MarketingMessageRequest(**fields)
        messages.append(OutgoingMessage.of(f"k{i}", request))
    return messages


def _sender(script: Script, **options) -> tuple[BatchSender, list[SendOutcome]]:
    client = MMClient(
        ClientConfig(api_key="k" * 32, base_url="http://mm.test", messages_per_second=1000),
        transport=httpx.MockTransport(script),
    )
    outcomes: list[SendOutcome] = []
    options.setdefault("backoff_base", 0.001)
    options.setdefault("pair_delay_seconds", 0.001)
    return BatchSender(client, on_outcome=outcomes.append, **options), outcomes


async def test_all_accepted_each_message_once():
    script = Script({})
    sender, outcomes = _sender(script)
    summary = await sender.send(_messages(50, cloud_every=10))
    assert summary.accepted == 50
    assert sorted(o.key for o in outcomes) == sorted(f"k{i}" for i in range(50))
    assert set(script.requests.values()) == {1}
    assert script.paths["4915100000000"] == "/messages"
    assert script.paths["4915100000001"] == "/marketing_messages"
    by_key = {o.key: o for o in outcomes}
    assert all(by_key[m.key].wamid == f"wamid.{orjson.loads(m.body)['to']}" for m in _messages(50))


async def test_transient_errors_are_retried_until_accepted():
    script = Script({"4915100000000": ["500", "429", "ok"]})
    sender, outcomes = _sender(script)
    summary = await sender.send(_messages(3))
    first = next(o for o in outcomes if o.key == "k0")
    assert first.state is OutcomeState.ACCEPTED
    assert first.attempts == 3
    assert summary.retries == 2
    assert summary.rate_limited == 1


async def test_pair_limit_defers_recipient_then_sends():
    script = Script({"4915100000001": ["pair", "pair", "ok"]})
    sender, outcomes = _sender(script)
    await sender.send(_messages(3))
    second = next(o for o in outcomes if o.key == "k1")
    assert second.state is OutcomeState.ACCEPTED
    assert script.requests["4915100000001"] == 3


async def test_pair_limit_past_deferrals_leaves_message_for_later():
    script = Script({"4915100000001": ["pair"]})
    sender, outcomes = _sender(script, max_deferrals=2)
    await sender.send(_messages(3))
    second = next(o for o in outcomes if o.key == "k1")
    assert second.state is OutcomeState.DEFERRED
    assert second.error_code == 131056
    assert script.requests["4915100000001"] == 3


async def test_dropped_connection_is_unknown_and_never_resent():
    script = Script({"4915100000002": ["drop", "ok"]})
    sender, outcomes = _sender(script)
    summary = await sender.send(_messages(5))
    third = next(o for o in outcomes if o.key == "k2")
    assert third.state is OutcomeState.UNKNOWN
    assert script.requests["4915100000002"] == 1
    assert summary.counts[OutcomeState.ACCEPTED] == 4


async def test_bad_request_is_rejected_without_retry():
    script = Script({"4915100000000": ["bad"]})
    sender, outcomes = _sender(script)
    summary = await sender.send(_messages(2))
    first = next(o for o in outcomes if o.key == "k0")
    assert (first.state, first.error_code, first.attempts) == (OutcomeState.REJECTED, 132000, 1)
    assert summary.errors == {132000: 1}


async def test_campaign_stop_leaves_the_rest_not_sent():
    script = Script({}, default="stop")
    sender, outcomes = _sender(script)
    summary = await sender.send(_messages(400))
    assert summary.stopped_reason == "132015: paused"
    assert summary.accepted == 0
    states = Counter(o.state for o in outcomes)
    assert states[OutcomeState.NOT_SENT] == 400
    # Only the requests already in flight when the stop came went out.
    assert sum(script.requests.values()) <= sender.client.throttle.max_in_flight


async def test_retry_budget_caps_retries_in_an_error_storm():
    script = Script({}, default="500")
    sender, outcomes = _sender(script, retry_budget=RetryBudget(ratio=0.1, minimum=0))
    summary = await sender.send(_messages(100))
    assert summary.retries <= 10
    assert sum(script.requests.values()) <= 110
    assert all(o.state is OutcomeState.DEFERRED for o in outcomes)


async def test_claim_runs_once_before_first_request_and_can_refuse():
    script = Script({"4915100000000": ["500", "ok"]})
    claimed: defaultdict[str, int] = defaultdict(int)

    async def claim(message: OutgoingMessage) -> bool:
        claimed[message.key] += 1
        return message.key != "k2"

    sender, outcomes = _sender(script, claim=claim)
    await sender.send(_messages(3))
    assert claimed == {"k0": 1, "k1": 1, "k2": 1}
    assert script.requests["4915100000000"] == 2
    assert script.requests["4915100000002"] == 0
    skipped = next(o for o in outcomes if o.key == "k2")
    assert skipped.state is OutcomeState.SKIPPED


async def test_claims_wait_for_the_throttle_so_a_crash_leaves_few_in_doubt():
    # 40 workers but 20 requests/s: a claim made when a worker picks a message up would put
    # all 40 in `in_flight` at once; claimed at the throttle's turn, they follow the rate.
    claimed_at: list[float] = []

    async def claim(message: OutgoingMessage) -> bool:
        claimed_at.append(asyncio.get_running_loop().time())
        return True

    client = MMClient(
        ClientConfig(
            api_key="k" * 32,
            base_url="http://mm.test",
            messages_per_second=20,
            max_in_flight=40,
        ),
        transport=httpx.MockTransport(Script({})),
    )
    sender = BatchSender(client, claim=claim)
    started = asyncio.get_running_loop().time()
    summary = await sender.send(_messages(40))

    assert summary.accepted == 40
    claimed_in_first_half_second = sum(1 for at in claimed_at if at - started < 0.5)
    assert claimed_in_first_half_second <= 12  # 20/s for 0.5 s, plus the throttle's burst


@pytest.mark.parametrize("count", [0, 1])
async def test_small_batches(count):
    sender, outcomes = _sender(Script({}))
    summary = await sender.send(_messages(count))
    assert summary.accepted == count == len(outcomes)
