"""Shared by the connect cluster tests: run a worker in-process or as a killable subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kraft.apis.connect import Worker, parse_connectors


@contextmanager
def running_worker(bootstrap: str, connectors: list[dict[str, Any]]) -> Iterator[Worker]:
    worker = Worker(bootstrap, parse_connectors({"connector": connectors}, "test"))
    try:
        worker.start()
        yield worker
    finally:
        worker.stop()


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def write_toml(path: Path, connectors: list[dict[str, Any]]) -> Path:
    lines = []
    for c in connectors:
        lines.append("[[connector]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in c.items() if k != "transforms"]
        for t in c.get("transforms", []):
            lines.append("[[connector.transforms]]")
            lines += [f"{k} = {toml_value(v)}" for k, v in t.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


class WorkerProcess:
    """``kraft connect run`` as a subprocess (via the sub-app, so cli.py need not be wired)."""

    def __init__(self, toml: Path, bootstrap: str, log: Path) -> None:
        self.log = log
        self._out = open(log, "ab")  # noqa: SIM115 - closed in stop()
        code = "from kraft.apis.connect.cli import connect_app; connect_app()"
        self.proc = subprocess.Popen([sys.executable, "-c", code, "run", str(toml), "--bootstrap", bootstrap,
                                      "--report-s", "0"], stdout=self._out, stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        """SIGTERM (a clean stop: tasks stopped, producers flushed, offsets stored), SIGKILL after
        30 s; the exit code (negative: killed by that signal)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._out.close()
        return self.proc.returncode
