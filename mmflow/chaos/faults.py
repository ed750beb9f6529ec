"""The chaos run's faults in time: receiver kills and restarts, 130429 storms, and landing.

The send flow's kills are driven by the run itself (at random numbers of accepted messages);
this module holds what happens on the clock, each in a thread of its own.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from mmapi.landing import LandingConfig, land
from mmapi.receiver import ReceiverConfig, ReceiverServer
from mmapi.sandbox import SandboxServer

__all__ = ["FaultSchedule", "LandingLoop", "RestartableReceiver", "StormWindow"]

logger = logging.getLogger("mmflow.chaos")

BURST_SECONDS = 2.0
BURST_SHARE = 0.5


class RestartableReceiver:
    """The webhook receiver, restarted on its first port after a kill (so its URL holds).

    Attributes:
        config: The receiver's configuration.
        kills: Times it was killed.
    """

    def __init__(self, config: ReceiverConfig) -> None:
        self.config = config
        self.kills = 0
        self._server = ReceiverServer(config).start()
        self.port = self._server.port or int(self._server.url.rsplit(":", 1)[1])

    @property
    def webhook_url(self) -> str:
        """The URL the sandbox posts to."""
        return self._server.webhook_url

    def kill_for(self, seconds: float) -> None:
        """SIGKILL the receiver, keep it down for `seconds`, start it again on the same port."""
        self._server.kill()
        self.kills += 1
        time.sleep(seconds)
        self._server = ReceiverServer(self.config, port=self.port).start()

    def stop(self) -> None:
        """Stop it gracefully."""
        self._server.stop()


@dataclass
class StormWindow:
    """When a 130429 storm or burst ran (time.time() seconds) and the share answered 130429."""

    start: float
    end: float
    share: float


@dataclass
class FaultSchedule:
    """Receiver kills and 130429 storms at seeded random times over the expected send time.

    Attributes:
        sandbox: The sandbox whose runtime faults change.
        receiver: The receiver to kill.
        receiver_kills: How many kills.
        receiver_down_seconds: Longest downtime of one kill.
        storm_seconds: The long storm (every send answered 130429); 0 = none.
        bursts: Short bursts (half the sends answered 130429 for two seconds).
        window_seconds: The time over which the faults are spread.
        seed: Seed of the times.
        storms: The storms and bursts as they ran.
        error: What stopped the thread, if anything did.
    """

    sandbox: SandboxServer
    receiver: RestartableReceiver
    receiver_kills: int
    receiver_down_seconds: float
    storm_seconds: float
    bursts: int
    window_seconds: float
    seed: int
    storms: list[StormWindow] = field(default_factory=list)
    error: BaseException | None = None
    _thread: threading.Thread | None = None

    def _plan(self) -> list[tuple[float, str, float]]:
        rng = random.Random(self.seed)
        window = self.window_seconds
        actions = [
            (rng.uniform(0.1, 0.85) * window, "receiver", rng.uniform(0.5, 1.0))
            for _ in range(self.receiver_kills)
        ]
        if self.storm_seconds > 0:
            actions.append((rng.uniform(0.2, 0.5) * window, "storm", 1.0))
        actions += [
            (rng.uniform(0.05, 0.9) * window, "burst", BURST_SHARE) for _ in range(self.bursts)
        ]
        return sorted(actions)

    def _storm(self, seconds: float, share: float) -> None:
        self.sandbox.update_config(p_130429=share)
        start = time.time()
        try:
            time.sleep(seconds)
        finally:
            self.sandbox.update_config(p_130429=0.0)
            self.storms.append(StormWindow(start, time.time(), share))

    def _run(self) -> None:
        started = time.monotonic()
        try:
            for at, kind, value in self._plan():
                time.sleep(max(0.0, started + at - time.monotonic()))
                if kind == "receiver":
                    down = value * self.receiver_down_seconds
                    logger.info("chaos: receiver killed, down for %.1f s", down)
                    self.receiver.kill_for(down)
                elif kind == "storm":
                    logger.info("chaos: 130429 storm for %.0f s", self.storm_seconds)
                    self._storm(self.storm_seconds, value)
                else:
                    self._storm(BURST_SECONDS, value)
        except BaseException as exc:  # handed to the driver, which fails the run with it
            self.error = exc

    @property
    def started(self) -> bool:
        """Whether the schedule was started."""
        return self._thread is not None

    def start(self) -> None:
        """Start the schedule now."""
        self._thread = threading.Thread(target=self._run, name="chaos-faults", daemon=True)
        self._thread.start()

    def join(self) -> None:
        """Wait until every fault ran; re-raise what stopped the schedule."""
        if self._thread is not None:
            self._thread.join()
        if self.error is not None:
            raise self.error


class LandingLoop:
    """Lands the receiver's segments every few seconds, as a scheduled landing flow would.

    It goes on while the receiver is down: a segment's torn last line (cut when the receiver
    restarts) is not landed, since a file counts as finished only after minutes unchanged.
    """

    def __init__(self, raw: Path, lake: Path, every: float):
        # One DuckDB thread: the landing shares the machine with the flow and the servers.
        self.config = LandingConfig(source=str(raw), out=lake, threads=1)
        self.every = every
        self.runs = 0
        self.error: BaseException | None = None
        # The driver also lands between runs: one landing run at a time (the landing's own
        # lock refuses a second one rather than waiting).
        self._landing = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-landing", daemon=True)

    def land_now(self) -> None:
        """One landing run (after the one under way, if any)."""
        with self._landing:
            land(self.config, progress=lambda _line: None)
            self.runs += 1

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.every):
                self.land_now()
        except BaseException as exc:  # handed to the driver
            self.error = exc

    def start(self) -> None:
        """Start landing in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current landing run; re-raise what stopped the loop."""
        self._stop.set()
        self._thread.join()
        if self.error is not None:
            raise self.error
