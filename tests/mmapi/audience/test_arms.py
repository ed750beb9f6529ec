"""The canonical arm and message key: stable, order-independent, in proportion."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from mmapi.audience import arm_of, arm_threshold, assign_arms, message_key
from mmapi.campaign import ArmSplit


def _recipients(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [f"49151{rng.randrange(10**8):08d}" for _ in range(count)]


def test_assign_arms_matches_arm_of_and_message_key():
    recipients = _recipients(2000)

    keys, arms = assign_arms("spring-sale", pa.array(recipients), ArmSplit(mm=0.9, cloud=0.1))

    assert keys.to_pylist() == [message_key("spring-sale", r) for r in recipients]
    assert arms.to_pylist() == [arm_of("spring-sale", r, 0.9) for r in recipients]


def test_assign_arms_is_pinned_across_releases():
    # Changing the rule would move recipients between arms of a running campaign, and change
    # the ledger's keys: these literals must never change.
    keys, arms = assign_arms("spring-sale", pa.array(["4915123456789", "5511987654321"]), 0.5)

    assert keys.to_pylist() == ["77c063e8ba11c3d01d552cb6637aa537", keys[1].as_py()]
    assert arms.to_pylist() == ["mm", "cloud"]
    assert message_key("c", "1") == "7c9d30055291ef7b84cdc4577fa871f8"


def test_assign_arms_does_not_depend_on_row_order():
    recipients = _recipients(5000)
    shuffled = recipients[:]
    random.Random(3).shuffle(shuffled)

    keys, arms = assign_arms("c1", pa.array(recipients), 0.7)
    keys2, arms2 = assign_arms("c1", pa.array(shuffled), 0.7)

    first = dict(zip(recipients, zip(keys.to_pylist(), arms.to_pylist(), strict=True), strict=True))
    second = dict(
        zip(shuffled, zip(keys2.to_pylist(), arms2.to_pylist(), strict=True), strict=True)
    )
    assert first == second


def test_assign_arms_differs_between_campaigns():
    recipients = pa.array(_recipients(1000))

    _, arms_a = assign_arms("campaign-a", recipients, 0.5)
    _, arms_b = assign_arms("campaign-b", recipients, 0.5)

    assert arms_a.to_pylist() != arms_b.to_pylist()


@pytest.mark.parametrize("share", [0.9, 0.5, 0.1])
def test_assign_arms_splits_in_proportion(share):
    count = 100_000
    _, arms = assign_arms("proportions", pa.array(_recipients(count, seed=11)), share)

    mm = arms.to_pylist().count("mm") / count
    sigma = (share * (1 - share) / count) ** 0.5
    assert abs(mm - share) < 4 * sigma


@pytest.mark.parametrize(("split", "arm"), [(ArmSplit(mm=1.0, cloud=0.0), "mm"), (0.0, "cloud")])
def test_assign_arms_single_arm(split, arm):
    _, arms = assign_arms("c", pa.array(_recipients(500)), split)

    assert set(arms.to_pylist()) == {arm}
    assert arm_of("c", "4915123456789", split) == arm


def test_arm_threshold_is_exact():
    assert arm_threshold(0.5) == 2**63
    assert arm_threshold(1.0) == 2**64
    assert arm_threshold(ArmSplit(mm=0.0, cloud=1.0)) == 0


def test_message_key_is_32_hex_characters():
    key = message_key("spring-sale", "4915123456789")

    assert len(key) == 32
    assert int(key, 16) >= 0
    assert key != message_key("other", "4915123456789")
