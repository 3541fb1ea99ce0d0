"""Runs one librdkafka test (a :class:`~tests.compat.librdkafka.suite.Run`) with a wall-clock limit
and says how it went: pass, fail, timeout or skipped, with the failure's first words and the tail
of its output.

Owns the test-runner's command line and environment and the reading of its report file
(``TEST_REPORT``). It must not start or judge the kraft cluster: the caller owns that.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tests.compat.librdkafka.suite import CLASSIC, Run

Outcome = Literal["pass", "fail", "timeout", "skipped"]

TAIL_LINES = 40
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\x1b\(B")
# The report is JSON written with printf, so a quote in a test's "extra" text would break json.loads:
# read each test's name and state with a pattern instead.
_REPORT_STATE = re.compile(r'"name": "(?P<name>[^"]+)", "state": "(?P<state>[A-Z_]+)"')
_FAILURE = re.compile(r'^### Test "(?P<name>[^"]+)" failed at (?P<where>\S+)')
_SKIP = re.compile(r"SKIPPING(?: TEST)?: (?P<reason>.*)$")


@dataclass(frozen=True)
class TestResult:
    key: str
    number: str
    scenario: str
    outcome: Outcome
    duration_s: float
    exit_code: int | None             # None: killed at the time limit
    subtests: dict[str, str]          # subtest name -> librdkafka's state (PASSED, FAILED, SKIPPED, ...)
    reason: str                       # the first failure (or skip) in one line; "" when it passed
    tail: str                         # the last TAIL_LINES lines of the output when it did not pass


def command(test_runner: Path, run: Run, quick: bool = False) -> list[str]:
    """``-p1``: one test at a time; ``-L``: only the subtests that need a broker. Not ``-Q`` unless
    asked: librdkafka's quick mode skips every ``SUB_TEST`` not marked quick and the test still
    passes (0018 passes in 0 ms), so a compat run would pass without testing. Sockem tests are not
    left out (no ``-E``): they inject faults in the client's own sockets and run against any broker."""
    args = [str(test_runner), "-p1", "-L", "-s", run.scenario]
    if quick:
        args.append("-Q")
    return args


def environment(base: dict[str, str], *, src_dir: Path, run: Run, test_conf: Path, report: Path,
                kafka_version: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in base.items()
           if k not in ("CI", "TESTS", "SUBTESTS", "TESTS_SKIP", "TEST_CONSUMER_GROUP_PROTOCOL")}
    # CI changes librdkafka's runner (parallelism, timeouts): the same results on a laptop and in CI.
    libs = f"{src_dir / 'src'}:{src_dir / 'src-cpp'}"
    env.update({
        "TESTS": run.number,
        "RDKAFKA_TEST_CONF": str(test_conf),
        "TEST_REPORT": str(report),
        "TEST_KAFKA_VERSION": kafka_version,
        "LD_LIBRARY_PATH": f"{libs}:{base['LD_LIBRARY_PATH']}" if base.get("LD_LIBRARY_PATH") else libs,
        **(extra or {}),
    })
    if run.group_protocol != CLASSIC:  # unset: librdkafka's default, the classic protocol
        env["TEST_CONSUMER_GROUP_PROTOCOL"] = run.group_protocol
    return env


def run_test(run: Run, *, test_runner: Path, src_dir: Path, test_conf: Path, work_dir: Path,
             kafka_version: str, time_limit_s: float, quick: bool = False,
             extra_env: dict[str, str] | None = None) -> TestResult:
    """Run ``run`` in ``work_dir`` (the test-runner writes stats and offset files into its current
    directory, so not in the shared build), killing its process group at ``time_limit_s``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    # Tests open files relative to librdkafka's tests/ directory (0053 reads ../src/statistics_schema.json):
    # from work_dir, ../src must be librdkafka's src/.
    src_link = work_dir.parent / "src"
    if not src_link.exists():
        src_link.symlink_to(src_dir / "src", target_is_directory=True)
    report = work_dir / "report.json"
    report.unlink(missing_ok=True)
    log_path = work_dir / "output.log"
    env = environment(dict(os.environ), src_dir=src_dir, run=run, test_conf=test_conf, report=report,
                      kafka_version=kafka_version, extra=extra_env)
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command(test_runner, run, quick), cwd=work_dir, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            exit_code: int | None = proc.wait(timeout=time_limit_s)
        except subprocess.TimeoutExpired:
            exit_code = None
            _kill_group(proc)
        except BaseException:  # the run itself is stopped (SIGTERM, Ctrl-C): no test-runner left behind
            _kill_group(proc)
            raise
    duration = time.monotonic() - started
    output = _ANSI.sub("", log_path.read_text(errors="replace"))
    states = parse_report(report.read_text(errors="replace")) if report.exists() else {}
    return judge(run, exit_code, states, output, duration, time_limit_s)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def parse_report(text: str) -> dict[str, str]:
    """Subtest name -> state, from the runner's report file (``<MAIN>`` left out)."""
    return {m["name"]: m["state"] for m in _REPORT_STATE.finditer(text) if m["name"] != "<MAIN>"}


def judge(run: Run, exit_code: int | None, states: dict[str, str], output: str, duration_s: float,
          time_limit_s: float) -> TestResult:
    """Pass needs a clean exit and every planned subtest PASSED or SKIPPED with at least one PASSED;
    all skipped is "skipped" (the test decided it does not apply); anything else is a failure."""
    mine = {name: states.get(name, "NOT_REPORTED") for name in run.subtests}
    lines = output.splitlines()
    tail = "\n".join(lines[-TAIL_LINES:])
    outcome: Outcome
    if exit_code is None:
        outcome, reason = "timeout", f"still running after {time_limit_s:.0f} s (killed); {_last_say(lines)}"
    elif exit_code == 0 and mine and all(s in ("PASSED", "SKIPPED") for s in mine.values()):
        if any(s == "PASSED" for s in mine.values()):
            outcome, reason, tail = "pass", "", ""
        else:
            outcome, reason = "skipped", _first_skip(lines) or "every subtest skipped itself"
    else:
        outcome = "fail"
        reason = _first_failure(lines) or (
            f"test-runner exited with {_describe_exit(exit_code)}, subtests {mine}")
    return TestResult(run.key, run.number, run.scenario, outcome, round(duration_s, 1), exit_code, mine,
                      reason, tail)


def _first_failure(lines: list[str]) -> str:
    """The first ``### Test "X" failed at file:line`` with the message line after it."""
    for i, line in enumerate(lines):
        m = _FAILURE.match(line)
        if m and m["name"] != "<MAIN>":
            message = lines[i + 1].strip() if i + 1 < len(lines) else ""
            return f"{m['name']} at {m['where']}: {message}"[:500]
    return ""


def _first_skip(lines: list[str]) -> str:
    for line in lines:
        m = _SKIP.search(line)
        if m:
            return m["reason"].strip()[:500]
    return ""


def _last_say(lines: list[str]) -> str:
    """The last line the test said before it was killed (where it hung)."""
    for line in reversed(lines):
        if line.strip():
            return "last output: " + line.strip()[:300]
    return "no output"


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"code {code}"
