"""The API key must not appear in any log record, exception text, traceback or repr."""

from __future__ import annotations

import logging
import traceback

import httpx
import pytest

from mmapi import (
    BatchSender,
    ClientConfig,
    MarketingMessageRequest,
    MMAPIError,
    MMClient,
    OutgoingMessage,
)
from mmapi.sandbox import SandboxConfig, SandboxServer

KNOWN_KEY = "KNOWN-SECRET-KEY-7f3a9c1e5b2d8f4a6c0e"


def _messages(count: int) -> list[OutgoingMessage]:
    return [
        OutgoingMessage.of(
            str(i),
            MarketingMessageRequest(
                to=f"4915100{i:06d}",
                template={
                    "name": "spring_sale",
                    "language": {"code": "en"},
                    "components": [
                        {
                            "type": "body",
                            "parameters": [
                                {"type": "text", "text": "Ana"},
                                {"type": "text", "text": "20%"},
                            ],
                        }
                    ],
                },
            ),
        )
        for i in range(count)
    ]


def _failing(request: httpx.Request) -> httpx.Response:
    to = request.content.decode()
    if "4915100000000" in to:
        raise httpx.ReadTimeout("timed out", request=request)
    if "4915100000001" in to:
        raise httpx.ConnectError("refused", request=request)
    return httpx.Response(401, json={"error": "Invalid api token."})


def _texts_of(error: BaseException) -> list[str]:
    return [str(error), repr(error), "".join(traceback.format_exception(error))]


async def test_key_absent_from_logs_errors_and_reprs(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    config = ClientConfig(api_key=KNOWN_KEY, base_url="http://mm.test")
    seen += [repr(config), str(config), str(config.model_dump())]
    async with MMClient(config, transport=httpx.MockTransport(_failing)) as client:
        seen.append(repr(client))
        for message in _messages(3):
            with pytest.raises(MMAPIError) as caught:
                await client.send_body(message.endpoint, message.body)
            seen += _texts_of(caught.value)
        outcomes: list[object] = []
        await BatchSender(client, on_outcome=outcomes.append).send(_messages(5))
        seen += [repr(outcome) for outcome in outcomes]
    seen += [record.getMessage() for record in caplog.records]
    seen.append(caplog.text)
    assert seen
    assert not [text for text in seen if KNOWN_KEY in text]


async def test_key_absent_when_talking_to_the_sandbox(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    sandbox_config = SandboxConfig(api_key=KNOWN_KEY)
    assert KNOWN_KEY not in repr(sandbox_config)
    with SandboxServer(sandbox_config) as sandbox:
        config = ClientConfig(api_key=KNOWN_KEY, base_url=sandbox.url, messages_per_second=500)
        async with MMClient(config) as client:
            summary = await BatchSender(client).send(_messages(20))
        wrong = ClientConfig(api_key=KNOWN_KEY + "-wrong", base_url=sandbox.url)
        async with MMClient(wrong) as client:
            message = _messages(1)[0]
            with pytest.raises(MMAPIError) as caught:
                await client.send_body(message.endpoint, message.body)
    assert summary.accepted == 20
    texts = [caplog.text, *_texts_of(caught.value), repr(summary)]
    assert not [text for text in texts if KNOWN_KEY in text]
