"""Runs of the send flow in child processes, forked from a zygote that imported it once.

SIGKILL of a child hits the flow, its ledger writer and its in-flight requests at once, as a
crash would; several zygotes run several workers of one campaign side by side.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 60.0

# The zygote of `mmflow chaos` (`mmflow/chaos/flow_runner.py`): it imports the flow once, then
# forks one run per JSON line of arguments, answering "PID n" and then "EXIT code".
ZYGOTE = "from mmflow.chaos.flow_runner import zygote_main; zygote_main()"


class Zygote:
    """The flow runner process; each run is a fork of it."""

    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and flow
            [sys.executable, "-c", ZYGOTE],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        stdout = self.process.stdout
        assert stdout is not None
        threading.Thread(target=lambda: [self.lines.put(x) for x in stdout], daemon=True).start()

    def start(self, **args: object) -> int:
        """Fork a run of the flow; returns its pid."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(args) + "\n")
        self.process.stdin.flush()
        line = self.lines.get(timeout=RUN_TIMEOUT)
        assert line.startswith("PID "), line
        return int(line.split()[1])

    def exit_code(self, timeout: float | None = None) -> int | None:
        """The run's exit code once it ended (None if still running after `timeout`)."""
        try:
            line = self.lines.get(timeout=timeout) if timeout else self.lines.get_nowait()
        except queue.Empty:
            return None
        assert line.startswith("EXIT "), line
        return int(line.split()[1])

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
