"""The receiver app in process: storing, signatures, the handshake, limits, counters."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest

from mmapi.webhooks import sign_body

from .bodies import dumps, status, statuses_body
from .corpus import CASES, PRETTY_BODY
from .helpers import (
    APP_SECRET,
    D360_SECRET,
    VERIFY_TOKEN,
    open_receiver,
    quarantined,
    stored_lines,
    without_receipt,
)

BODY = dumps(statuses_body(status("wamid.A", "sent")))


def _signed(body: bytes) -> dict[str, str]:
    return {"X-Hub-Signature-256": sign_body(body, APP_SECRET), "Content-Type": "application/json"}


async def test_receiver_stores_body_with_receive_time_and_headers(tmp_path: Path):
    async with open_receiver(tmp_path, app_secret=APP_SECRET) as (client, receiver):
        before = datetime.now(UTC)
        answer = await client.post("/webhook", content=BODY, headers=_signed(BODY))

    [line] = stored_lines(tmp_path)
    meta = line["_mmflow"]
    assert answer.status_code == 200
    assert answer.json() == {"status": "stored"}
    assert without_receipt(line) == orjson.loads(BODY)
    assert before <= datetime.fromisoformat(meta["received_at"]) <= datetime.now(UTC)
    assert meta["headers"]["x-hub-signature-256"] == sign_body(BODY, APP_SECRET)
    assert meta["headers"]["content-type"] == "application/json"
    assert receiver.metrics.outcomes["stored"] == 1


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Hub-Signature-256": "sha256=" + "0" * 64}, {"X-Hub-Signature-256": "garbage"}],
    ids=["missing", "wrong", "garbage"],
)
async def test_receiver_bad_signature_401_and_nothing_stored(tmp_path: Path, headers):
    async with open_receiver(tmp_path, app_secret=APP_SECRET) as (client, receiver):
        answer = await client.post("/webhook", content=BODY, headers=headers)

    assert answer.status_code == 401
    assert stored_lines(tmp_path) == []
    assert quarantined(tmp_path) == []
    assert receiver.metrics.outcomes["bad_signature"] == 1


async def test_receiver_signature_of_another_body_is_refused(tmp_path: Path):
    other = dumps(statuses_body(status("wamid.B", "sent")))
    async with open_receiver(tmp_path, app_secret=APP_SECRET) as (client, _):
        answer = await client.post("/webhook", content=BODY, headers=_signed(other))

    assert answer.status_code == 401
    assert stored_lines(tmp_path) == []


async def test_receiver_360dialog_signature_checked_when_configured(tmp_path: Path):
    digest = hmac.new(D360_SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    async with open_receiver(tmp_path, d360_secret=D360_SECRET) as (client, _):
        good = await client.post(
            "/webhook", content=BODY, headers={"x-360dialog-signature": digest}
        )
        prefixed = await client.post(
            "/webhook", content=BODY, headers={"x-360dialog-signature": f"sha256={digest}"}
        )
        bad = await client.post("/webhook", content=BODY, headers={"x-360dialog-signature": "ab"})
        missing = await client.post("/webhook", content=BODY)

    assert [good.status_code, prefixed.status_code, bad.status_code, missing.status_code] == [
        200,
        200,
        401,
        401,
    ]
    assert len(stored_lines(tmp_path)) == 2


async def test_receiver_both_signatures_required_when_both_configured(tmp_path: Path):
    digest = hmac.new(D360_SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    async with open_receiver(tmp_path, app_secret=APP_SECRET, d360_secret=D360_SECRET) as (
        client,
        _,
    ):
        only_meta = await client.post("/webhook", content=BODY, headers=_signed(BODY))
        both = await client.post(
            "/webhook", content=BODY, headers={**_signed(BODY), "x-360dialog-signature": digest}
        )

    assert (only_meta.status_code, both.status_code) == (401, 200)


async def test_receiver_without_secrets_accepts_unsigned_bodies(tmp_path: Path):
    async with open_receiver(tmp_path) as (client, _):
        answer = await client.post("/webhook", content=BODY)

    assert answer.status_code == 200
    assert len(stored_lines(tmp_path)) == 1


async def test_receiver_verification_handshake(tmp_path: Path):
    good = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    async with open_receiver(tmp_path, verify_token=VERIFY_TOKEN) as (client, receiver):
        ok = await client.get("/webhook", params=good)
        wrong = await client.get("/webhook", params=good | {"hub.verify_token": "nope"})
        mode = await client.get("/webhook", params=good | {"hub.mode": "unsubscribe"})
        bare = await client.get("/webhook")

    assert (ok.status_code, ok.text) == (200, "1158201444")
    assert [wrong.status_code, mode.status_code, bare.status_code] == [403, 403, 403]
    assert receiver.metrics.outcomes["verify_ok"] == 1
    assert receiver.metrics.outcomes["verify_refused"] == 3


async def test_receiver_handshake_refused_when_no_token_configured(tmp_path: Path):
    params = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}
    async with open_receiver(tmp_path) as (client, _):
        answer = await client.get("/webhook", params=params)

    assert answer.status_code == 403


async def test_receiver_body_over_the_limit_413_by_header_or_by_stream(tmp_path: Path):
    big = b"x" * 2048

    async def chunks():
        for _ in range(4):
            yield big[:1024]

    async with open_receiver(tmp_path, max_body_bytes=1500) as (client, receiver):
        declared = await client.post("/webhook", content=big)
        streamed = await client.post("/webhook", content=chunks())

    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert receiver.metrics.outcomes["too_large"] == 2
    assert stored_lines(tmp_path) == []


async def test_receiver_invalid_content_length_is_400(tmp_path: Path):
    async with open_receiver(tmp_path) as (_, receiver):
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": BODY, "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/webhook",
            "headers": [(b"content-length", b"12abc")],
        }
        await receiver(scope, receive, send)

    assert sent[0]["status"] == 400


async def test_receiver_not_json_400_and_bytes_kept_in_quarantine(tmp_path: Path):
    junk = b"\xff\x00 not json at all"
    async with open_receiver(tmp_path) as (client, receiver):
        answer = await client.post("/webhook", content=junk, headers={"User-Agent": "meta"})

    [record] = quarantined(tmp_path)
    assert answer.status_code == 400
    assert "not valid JSON" in answer.json()["detail"]
    assert record["body"] == junk
    assert record["reason"].startswith("not valid JSON")
    assert record["headers"]["user-agent"] == "meta"
    assert stored_lines(tmp_path) == []
    assert receiver.metrics.outcomes["not_json"] == 1


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_receiver_bad_input_corpus_never_5xx(tmp_path: Path, case):
    async with open_receiver(tmp_path, app_secret=APP_SECRET) as (client, _):
        answer = await client.post("/webhook", content=case.raw, headers=_signed(case.raw))

    assert answer.status_code == case.receiver
    stored = stored_lines(tmp_path)
    if case.receiver == 200:
        [line] = stored
        assert dumps(without_receipt(line)) == dumps(orjson.loads(case.raw)) or case.raw
    else:
        assert stored == []
        assert quarantined(tmp_path)[0]["body"] == case.raw


async def test_receiver_ten_megabyte_body_is_413(tmp_path: Path):
    huge = dumps(statuses_body(status("wamid.BIG", "sent", padding="x" * (10 << 20))))
    async with open_receiver(tmp_path, app_secret=APP_SECRET) as (client, _):
        answer = await client.post("/webhook", content=huge, headers=_signed(huge))

    assert answer.status_code == 413
    assert stored_lines(tmp_path) == []


async def test_receiver_pretty_printed_body_stays_one_line(tmp_path: Path):
    async with open_receiver(tmp_path) as (client, _):
        answer = await client.post("/webhook", content=PRETTY_BODY)

    [line] = stored_lines(tmp_path)
    assert answer.status_code == 200
    assert without_receipt(line) == orjson.loads(PRETTY_BODY)


async def test_receiver_other_methods_and_paths(tmp_path: Path):
    async with open_receiver(tmp_path) as (client, _):
        put = await client.put("/webhook", content=BODY)
        elsewhere = await client.post("/elsewhere", content=BODY)

    assert (put.status_code, elsewhere.status_code) == (405, 404)


async def test_receiver_disk_failure_is_503_and_stores_nothing(tmp_path: Path, monkeypatch):
    async with open_receiver(tmp_path) as (client, receiver):

        def refuse(data: bytes) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(receiver.writer, "_write", refuse)
        answer = await client.post("/webhook", content=BODY)

    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert receiver.metrics.outcomes["storage_error"] == 1


async def test_receiver_health_and_metrics(tmp_path: Path):
    async with open_receiver(tmp_path) as (client, _):
        await client.post("/webhook", content=BODY)
        await client.post("/webhook", content=b"nope")
        health = (await client.get("/health")).json()
        metrics = (await client.get("/metrics")).text

    assert health["status"] == "ok"
    assert health["segment"].startswith("webhooks-")
    assert health["answers"]["stored"] == 1
    assert health["answers"]["not_json"] == 1
    assert health["writers"]["segments"]["lines"] == 1
    assert 'mmflow_receiver_answers_total{outcome="stored"} 1' in metrics
    assert "mmflow_receiver_ack_seconds_count 1" in metrics


async def test_receiver_concurrent_bodies_share_syncs_and_shutdown_flushes(tmp_path: Path):
    bodies = [dumps(statuses_body(status(f"wamid.{n}", "sent"))) for n in range(300)]
    async with open_receiver(tmp_path) as (client, receiver):
        answers = await asyncio.gather(*(client.post("/webhook", content=b) for b in bodies))
        stats = receiver.writer.stats

    assert {a.status_code for a in answers} == {200}
    assert sorted(
        without_receipt(line)["entry"][0]["changes"][0]["value"]["statuses"][0]["id"]
        for line in stored_lines(tmp_path)
    ) == sorted(f"wamid.{n}" for n in range(300))
    assert stats.syncs < stats.lines
    assert stats.largest_group > 1


async def test_receiver_client_gone_before_the_answer_still_stores(tmp_path: Path):
    async with open_receiver(tmp_path) as (_, receiver):
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": BODY, "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/webhook", "headers": []}
        task = asyncio.create_task(receiver(scope, receive, send))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    assert len(stored_lines(tmp_path)) == 1


def test_receiver_config_treats_blank_secrets_as_unset(tmp_path: Path):
    from mmapi.receiver import ReceiverConfig

    config = ReceiverConfig(directory=tmp_path, app_secret="  ", verify_token="s3cr3t-value")

    assert config.app_secret is None
    assert "s3cr3t-value" not in repr(config)
    with pytest.raises(ValueError, match="path"):
        ReceiverConfig(directory=tmp_path, path="no-slash")
    assert httpx  # the module is used by the helpers
