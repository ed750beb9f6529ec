"""MMClient and BatchSender against the real sandbox over loopback, scored by its ground truth."""

from __future__ import annotations

from collections import Counter

from mmapi import (
    BatchSender,
    ClientConfig,
    CloudMessageRequest,
    MarketingMessageRequest,
    MMClient,
    OutcomeState,
    OutgoingMessage,
    SendOutcome,
)
from mmapi.sandbox import SandboxConfig, SandboxServer

COMPONENTS = [
    {
        "type": "body",
        "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "20%"}],
    }
]


def _messages(count: int) -> list[OutgoingMessage]:
    template = {"name": "spring_sale", "language": {"code": "en"}, "components": COMPONENTS}
    messages = []
    for i in range(count):
        to = f"4915100{i:06d}"
        request = (
            CloudMessageRequest(to=to, template=template)
            if i % 10 == 0
            else MarketingMessageRequest(to=to, template=template, product_policy="strict")
        )
        messages.append(OutgoingMessage.of(f"k{i}", request))
    return messages


async def test_faulty_sandbox_nothing_sent_twice_and_unknowns_were_accepted():
    config = SandboxConfig(p_500=0.1, p_accept_then_drop=0.05, seed=7)
    with SandboxServer(config) as sandbox:
        client_config = ClientConfig(
            api_key=sandbox.api_key, base_url=sandbox.url, messages_per_second=1000
        )
        outcomes: list[SendOutcome] = []
        async with MMClient(client_config) as client:
            sender = BatchSender(client, on_outcome=outcomes.append, backoff_base=0.01)
            summary = await sender.send(_messages(400))
        truth = sandbox.ground_truth()
    by_state = Counter(o.state for o in outcomes)
    assert summary.retries > 0  # the 500s were retried
    assert by_state[OutcomeState.UNKNOWN] > 0  # the drops were not
    assert by_state[OutcomeState.ACCEPTED] + by_state[OutcomeState.UNKNOWN] == 400
    sent = Counter(message["to"] for message in truth["messages"])
    assert len(sent) == 400
    assert max(sent.values()) == 1, "a recipient got the message twice"
    truth_wamids = {message["wamid"] for message in truth["messages"]}
    accepted = {o.wamid for o in outcomes if o.state is OutcomeState.ACCEPTED}
    assert accepted <= truth_wamids
    # Each unknown outcome was in fact accepted (a drop after acceptance): reconciliation's job.
    assert len(truth_wamids - accepted) == by_state[OutcomeState.UNKNOWN]


async def test_routes_and_pricing_follow_the_endpoint():
    with SandboxServer(SandboxConfig(route_marketing_via_mm_on_messages=False)) as sandbox:
        config = ClientConfig(api_key=sandbox.api_key, base_url=sandbox.url)
        async with MMClient(config) as client:
            summary = await BatchSender(client).send(_messages(20))
        truth = sandbox.ground_truth()
    assert summary.accepted == 20
    routes = Counter((m["endpoint"], m["route"], m["pricing_category"]) for m in truth["messages"])
    assert routes == {
        ("marketing_messages", "mm", "marketing_lite"): 18,
        ("messages", "cloud", "marketing"): 2,
    }
