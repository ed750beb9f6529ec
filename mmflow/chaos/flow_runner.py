"""Runs of the send flow in child processes that the chaos run can SIGKILL at any moment.

A zygote process imports the flow once (seconds), then forks one child per run on request,
so a re-start after a kill takes milliseconds, as a worker's re-try would. Each request is a
JSON line of the flow's arguments; the zygote answers `PID n`, then `EXIT code` (negative:
killed by that signal) once the child is gone. A run that ends prints `SUMMARY <json>`.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

__all__ = ["FlowRunner", "zygote_main"]

REPO = Path(__file__).resolve().parents[2]
SUMMARY_PREFIX = "SUMMARY "
ANSWER_TIMEOUT_SECONDS = 120.0


def zygote_main() -> None:
    """The zygote: import the flow, then fork a run per request line on stdin."""
    import asyncio

    from flows.send_campaign import send_campaign

    for line in sys.stdin:
        args = json.loads(line)
        pid = os.fork()
        if pid == 0:
            log = os.open(args.pop("log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.dup2(log, 1)
            os.dup2(log, 2)
            code = 2
            try:
                state = asyncio.run(send_campaign(**args, return_state=True))
                summary = state.result(raise_on_failure=False)
                print(SUMMARY_PREFIX + json.dumps(summary, default=str), flush=True)
                code = 0 if state.is_completed() else 1
            except BaseException:  # the log says why; the exit code tells the driver
                import traceback

                traceback.print_exc()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        print("PID", pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print("EXIT", os.waitstatus_to_exitcode(status), flush=True)


class FlowRunner:
    """Starts runs of `send_campaign` (forks of one zygote) and kills them.

    Args:
        env: The environment of the runs (Prefect API URL, D360 key and base URL).
        logs: Folder of the runs' logs (`run-<n>.log`).
        flow_args: The flow's arguments, the same for every run.
    """

    def __init__(self, env: dict[str, str], logs: Path, flow_args: dict[str, Any]) -> None:
        self.logs = logs
        self.flow_args = flow_args
        self.runs = 0
        self.pid: int | None = None
        logs.mkdir(parents=True, exist_ok=True)
        env = {
            **env,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        }
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from mmflow.chaos.flow_runner import zygote_main; zygote_main()",
            ],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        stdout = self._process.stdout
        assert stdout is not None
        threading.Thread(target=lambda: [self._lines.put(x) for x in stdout], daemon=True).start()

    @property
    def log_path(self) -> Path:
        """The current run's log."""
        return self.logs / f"run-{self.runs}.log"

    def start(self) -> int:
        """Fork a run; returns its pid."""
        self.runs += 1
        stdin = self._process.stdin
        assert stdin is not None
        stdin.write(json.dumps({**self.flow_args, "log": str(self.log_path)}) + "\n")
        stdin.flush()
        line = self._answer(ANSWER_TIMEOUT_SECONDS)
        if line is None or not line.startswith("PID "):
            raise RuntimeError(f"the flow runner did not start a run (said {line!r})")
        self.pid = int(line.split()[1])
        return self.pid

    def _answer(self, timeout: float | None) -> str | None:
        try:
            return self._lines.get(timeout=timeout) if timeout else self._lines.get_nowait()
        except queue.Empty:
            return None

    def exit_code(self, timeout: float | None = None) -> int | None:
        """The run's exit code once it ended (None while it runs)."""
        line = self._answer(timeout)
        if line is None:
            return None
        if not line.startswith("EXIT "):
            raise RuntimeError(f"the flow runner said {line!r}")
        self.pid = None
        return int(line.split()[1])

    def kill(self) -> int | None:
        """SIGKILL the running run; returns its exit code."""
        if self.pid is not None:
            # The run may have ended on its own a moment ago: its exit code says so.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        return self.exit_code(timeout=30.0)

    def summary(self) -> dict[str, Any] | None:
        """The summary the last run printed, if it ended normally."""
        lines = self.log_path.read_text(errors="replace").splitlines()
        found = [line for line in lines if line.startswith(SUMMARY_PREFIX)]
        return json.loads(found[-1].removeprefix(SUMMARY_PREFIX)) if found else None

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the last run's log."""
        return self.log_path.read_text(errors="replace")[-chars:]

    def close(self) -> None:
        """Stop the zygote (a run still going is killed first)."""
        if self.pid is not None:
            self.kill()
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
