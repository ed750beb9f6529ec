"""The sandbox's parts on their own: window counter, token bucket, clock, config, exports."""

from __future__ import annotations

import importlib
import subprocess
import sys

import orjson
import pytest
from pydantic import ValidationError

import mmapi.sandbox
from mmapi.sandbox import GroundTruth, SandboxConfig, SandboxTemplate, default_templates
from mmapi.sandbox.catalog import TemplateCatalog
from mmapi.sandbox.clock import SimClock
from mmapi.sandbox.groundtruth import FATE_READ, INDEX_SHIFT, KIND_SENT
from mmapi.sandbox.limits import SlidingWindowLimit
from mmapi.sandbox.recipients import RECIPIENT_INVALID, RECIPIENT_OK, RecipientBook
from mmapi.sandbox.stats import SlidingWindowCounter


def test_window_counter_keeps_busiest_second() -> None:
    counter = SlidingWindowCounter()
    for i in range(50):
        counter.add(10.0 + i * 0.01)  # 50 in half a second
    for i in range(30):
        counter.add(10.7 + i * 0.01)  # 30 more, still within one second of most of them
    assert counter.maximum == 80
    counter.add(100.0)  # a long gap empties the window
    assert counter.maximum == 80


def test_window_counter_slides() -> None:
    counter = SlidingWindowCounter()
    for i in range(300):
        counter.add(i * 0.02)  # 50 per second, evenly
    assert 49 <= counter.maximum <= 51


def test_sliding_window_limit_admits_rate_plus_burst_per_second() -> None:
    limit = SlidingWindowLimit(rate=100.0, burst_fraction=0.1)
    assert sum(limit.try_take(1e9) for _ in range(500)) == 110
    assert limit.try_take(1e9 + 0.999) is False
    # The window slides: a second later the whole allowance is back.
    assert sum(limit.try_take(1e9 + 1.0 + k / 1000) for k in range(1000)) == 110
    # Steady demand at the rate is never refused.
    steady = SlidingWindowLimit(rate=100.0, burst_fraction=0.1)
    assert all(steady.try_take(1e9 + k / 100) for k in range(1000))


def test_sim_clock_compresses_and_jumps() -> None:
    clock = SimClock(3600.0, start=1_000_000.0)
    first = clock.now()
    assert first >= 1_000_000.0
    clock.advance_to(first + 86_400)
    assert clock.now() >= first + 86_400
    before = clock.now()
    clock.advance_to(0.0)  # never backwards
    assert clock.now() >= before
    assert clock.real_seconds_until(clock.now() + 3600.0) == pytest.approx(1.0, abs=0.01)


def test_config_rejects_inconsistent_values() -> None:
    with pytest.raises(ValidationError, match="p_500"):
        SandboxConfig(p_500=0.6, p_hang=0.6)
    with pytest.raises(ValidationError, match="p_invalid_number"):
        SandboxConfig(p_invalid_number=0.7, p_opted_out=0.7)
    with pytest.raises(ValidationError, match="exclusive"):
        SandboxConfig(webhook_url="http://127.0.0.1:1/", webhook_dir="/tmp/x")
    with pytest.raises(ValidationError, match="p_click"):
        SandboxConfig(p_click=1.5)
    with pytest.raises(ValidationError, match="only once"):
        SandboxConfig(templates=[*default_templates(), default_templates()[0]])


def test_config_secret_masked_and_runtime_changes() -> None:
    config = SandboxConfig(api_key="k-123")
    assert "k-123" not in repr(config)
    assert "k-123" not in config.model_dump_json()
    changed = config.with_runtime_changes({"p_500": 0.25, "latency_ms": 100})
    assert (changed.p_500, changed.latency_ms) == (0.25, 100)
    assert changed.api_key.get_secret_value() == "k-123"
    with pytest.raises(ValueError, match="seed"):
        config.with_runtime_changes({"seed": 1})


def test_default_templates_read_as_template_info() -> None:
    infos = {t.name: t.info() for t in default_templates()}
    assert infos["spring_sale"].category == "MARKETING"
    assert infos["spring_sale"].body_parameter_count == 2
    assert infos["spring_sale"].header_format == "IMAGE"
    buttons = next(c for c in infos["spring_sale"].components if c["type"] == "BUTTONS")
    assert "{{1}}" in buttons["buttons"][0]["url"]
    assert infos["winback_offer"].body_parameter_count == 3
    assert infos["order_update"].category == "UTILITY"


def test_template_rejects_bad_marketing_ttl() -> None:
    with pytest.raises(ValidationError):
        SandboxTemplate(name="t", language="en", category="marketing", message_send_ttl_seconds=60)
    with pytest.raises(ValidationError, match="category"):
        SandboxTemplate(name="t", language="en", category="PROMO")


def test_recipient_kind_fixed_by_seed_and_number() -> None:
    book = RecipientBook(SandboxConfig(seed=1, p_invalid_number=0.5))
    kinds = [book.kind(f"+4915100000{i:03d}") for i in range(200)]
    assert kinds == [book.kind(f"4915100000{i:03d}") for i in range(200)]  # + or not
    assert 60 < kinds.count(RECIPIENT_INVALID) < 140
    other = RecipientBook(SandboxConfig(seed=2, p_invalid_number=0.5))
    assert kinds != [other.kind(f"+4915100000{i:03d}") for i in range(200)]
    assert RecipientBook(SandboxConfig(p_invalid_number=0.0)).kind("+1555") == RECIPIENT_OK


@pytest.mark.parametrize(
    "module",
    [
        "app",
        "answers",
        "bodies",
        "catalog",
        "clock",
        "config",
        "emitter",
        "fates",
        "groundtruth",
        "limits",
        "recipients",
        "runtime",
        "server",
        "stats",
        "sinks",
        "sinks.base",
        "sinks.files",
        "sinks.http",
        "sinks.memory",
        "sinks.null",
    ],
)
def test_sandbox_module_all_lists_its_public_names(module: str) -> None:
    loaded = importlib.import_module(f"mmapi.sandbox.{module}")
    for name in loaded.__all__:
        assert hasattr(loaded, name), name


def test_sandbox_package_reexports() -> None:
    assert len(mmapi.sandbox.__all__) == len(set(mmapi.sandbox.__all__))
    for name in mmapi.sandbox.__all__:
        assert hasattr(mmapi.sandbox, name), name
    assert {"create_app", "SandboxConfig", "SandboxServer", "serve", "MemorySink"} <= set(
        mmapi.sandbox.__all__
    )


def test_sandbox_import_does_not_load_prefect() -> None:
    code = "import sys, mmapi.sandbox; print('prefect' in sys.modules)"
    out = subprocess.run(  # noqa: S603 - our interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_ground_truth_json_pieces_equal_snapshot() -> None:
    truth = GroundTruth(TemplateCatalog(default_templates()))
    assert orjson.loads(b"".join(truth.iter_json())) == {"messages": [], "events": []}
    for i in range(7):
        truth.add_message(
            to=f"+155500000{i:02d}",
            endpoint=i % 2,
            route=0,
            category=0,
            template_index=0,
            accepted_at=1.5,
            fate=FATE_READ,
            error_code=0,
            ttl_seconds=86_400,
            activity_sharing=True,
            held=False,
        )
        truth.add_event(i << INDEX_SHIFT | KIND_SENT, 1_700_000_000 + i)
    assert orjson.loads(b"".join(truth.iter_json(chunk=3))) == truth.snapshot()
    assert len({m["wamid"] for m in truth.snapshot()["messages"]}) == 7
