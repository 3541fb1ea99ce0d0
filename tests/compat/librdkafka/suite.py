"""Which of librdkafka's tests kraft runs: its test table read from ``tests/test.c``, kraft's
``compat/librdkafka/excluded.txt``, and the plan of runs that follows from both.

Owns the parsing of both files and the rule that every test number librdkafka has is either run or
excluded with a reason (a new librdkafka release with a new test fails the plan until someone
classifies it). Pure: reads text, never starts a process.

librdkafka's runner selects by test *number* (``TESTS=0045`` runs every ``0045_*`` test); ``-L``
leaves out the subtests flagged ``TEST_F_LOCAL`` (they need no broker), and a subtest with a
``.scenario`` runs only when the runner is given that scenario (``-s noautocreate``). So a run is a
(number, scenario) pair, and a number whose every subtest is local has nothing to run here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SCENARIO = "default"

#: Why a test is not run. Nothing is excluded for being hard: only for needing what a Kafka
#: cluster set up differently would provide (auth, TLS, a Kafka install's scripts), for not using a
#: broker at all, or for librdkafka itself not running it by default.
EXCLUSION_CATEGORIES = frozenset({
    "local",         # every subtest is TEST_F_LOCAL: no broker involved (unit tests, the mock cluster)
    "mock",          # flagged as a broker test but runs only against librdkafka's mock cluster
    "sasl",          # needs SASL authentication on the brokers
    "ssl",           # needs TLS listeners
    "transactions",  # needs transactions (kraft has none: issue 14 leaves them out)
    "known-issue",   # librdkafka's own runner skips it (TEST_F_KNOWN_ISSUE) against Kafka too
    "manual",        # TEST_F_MANUAL: librdkafka never runs it unless named
})

_TABLE_START = re.compile(r"struct test tests\[\]\s*=\s*\{")
_ENTRY = re.compile(r"_TEST\(\s*(?P<name>\w+)\s*,\s*(?P<flags>[^,)]+)")
_SCENARIO = re.compile(r'\.scenario\s*=\s*"(?P<scenario>[^"]*)"')


class SuiteError(ValueError):
    """test.c or excluded.txt does not say what the plan needs (names the file and the line)."""


@dataclass(frozen=True)
class Subtest:
    """One entry of librdkafka's test table."""

    name: str                 # e.g. "0045_subscribe_update_mock"
    flags: frozenset[str]     # e.g. {"TEST_F_LOCAL"}; empty for a plain broker test
    scenarios: str            # librdkafka matches the run's scenario as a substring of this

    @property
    def number(self) -> str:
        return self.name[:4]

    @property
    def needs_broker(self) -> bool:
        """Whether ``-L`` keeps it (the runner also skips known issues and manual tests by itself)."""
        return not self.flags & {"TEST_F_LOCAL", "TEST_F_MANUAL", "TEST_F_KNOWN_ISSUE"}

    def runs_in(self, scenario: str) -> bool:
        return scenario in self.scenarios


@dataclass(frozen=True)
class Exclusion:
    number: str
    category: str
    reason: str


CLASSIC = "classic"
# Tests run with librdkafka's KIP-848 consumer (TEST_CONSUMER_GROUP_PROTOCOL=consumer): 0153 tests
# what only that protocol has (client-generated member ids) and skips itself under the classic one.
GROUP_PROTOCOL = {"0153": "consumer"}


@dataclass(frozen=True)
class Run:
    """One invocation of the test-runner: ``TESTS=number -s scenario -L``."""

    number: str
    scenario: str
    subtests: tuple[str, ...] = field(default=())
    group_protocol: str = CLASSIC  # TEST_CONSUMER_GROUP_PROTOCOL: classic, or consumer (KIP-848)

    @property
    def key(self) -> str:
        key = self.number if self.scenario == DEFAULT_SCENARIO else f"{self.number}@{self.scenario}"
        return key if self.group_protocol == CLASSIC else f"{key}#{self.group_protocol}"


def parse_test_table(test_c: str) -> list[Subtest]:
    """The entries of ``struct test tests[]`` in librdkafka's ``tests/test.c``, in order. Entries
    under ``#if WITH_SOCKEM`` count: the Linux build has sockem."""
    start = _TABLE_START.search(test_c)
    if start is None:
        raise SuiteError("test.c: no 'struct test tests[] = {' table")
    end = test_c.find("{NULL}", start.end())
    if end < 0:
        raise SuiteError("test.c: the test table has no '{NULL}' end")
    table = test_c[start.end():end]
    matches = list(_ENTRY.finditer(table))
    subtests = []
    for i, m in enumerate(matches):
        body_end = matches[i + 1].start() if i + 1 < len(matches) else len(table)
        body = table[m.start():body_end]
        scenario = _SCENARIO.search(body)
        flags = frozenset(f.strip() for f in m["flags"].split("|") if f.strip() not in ("", "0"))
        subtests.append(Subtest(m["name"], flags, scenario["scenario"] if scenario else DEFAULT_SCENARIO))
    if not subtests:
        raise SuiteError("test.c: the test table has no _TEST(...) entries")
    return subtests


def parse_excluded(text: str, path: str = "excluded.txt") -> dict[str, Exclusion]:
    """``NNNN  category  reason`` per line; ``#`` starts a comment. Each number once, a known
    category, a reason always."""
    out: dict[str, Exclusion] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 2)
        where = f"{path}:{lineno}"
        if len(parts) < 3:
            raise SuiteError(f"{where}: expected 'NNNN category reason', got {raw.strip()!r}")
        number, category, reason = parts
        if not re.fullmatch(r"\d{4}", number):
            raise SuiteError(f"{where}: {number!r} is not a 4-digit test number")
        if category not in EXCLUSION_CATEGORIES:
            raise SuiteError(f"{where}: unknown category {category!r} (one of {sorted(EXCLUSION_CATEGORIES)})")
        if number in out:
            raise SuiteError(f"{where}: test {number} is listed twice")
        out[number] = Exclusion(number, category, reason)
    return out


def plan_runs(subtests: Iterable[Subtest], excluded: dict[str, Exclusion],
              only: Iterable[str] | None = None) -> list[Run]:
    """Every (number, scenario) with at least one broker subtest, minus the excluded numbers, in
    test-number order; ``only`` (numbers) narrows it. Refuses a plan in which a number is neither
    run nor excluded, or an exclusion names a number librdkafka does not have."""
    by_number: dict[str, list[Subtest]] = {}
    for sub in subtests:
        by_number.setdefault(sub.number, []).append(sub)
    unknown = sorted(set(excluded) - set(by_number))
    if unknown:
        raise SuiteError(f"excluded.txt names tests librdkafka does not have: {', '.join(unknown)}")
    unclassified = sorted(n for n, subs in by_number.items()
                          if n not in excluded and not any(s.needs_broker for s in subs))
    if unclassified:
        raise SuiteError("tests with no broker subtest must be listed in excluded.txt (category local or "
                         f"manual): {', '.join(unclassified)}")
    wanted = set(only) if only is not None else None
    if wanted is not None:
        missing = sorted(wanted - set(by_number))
        if missing:
            raise SuiteError(f"no such librdkafka tests: {', '.join(missing)}")
    runs = []
    for number in sorted(by_number):
        if number in excluded or (wanted is not None and number not in wanted):
            continue
        broker = [s for s in by_number[number] if s.needs_broker]
        for scenario in _scenarios(broker):
            names = tuple(s.name for s in broker if s.runs_in(scenario))
            runs.append(Run(number, scenario, names, GROUP_PROTOCOL.get(number, CLASSIC)))
    return runs


def _scenarios(subtests: list[Subtest]) -> list[str]:
    """The scenarios to run a number in: each subtest's first listed scenario ("default,ak23" runs
    in the default one), the default first."""
    seen: list[str] = []
    for sub in subtests:
        first = sub.scenarios.split(",")[0]
        if first not in seen:
            seen.append(first)
    return sorted(seen, key=lambda s: (s != DEFAULT_SCENARIO, s))


def load(tests_dir: Path, excluded_path: Path,
         only: Iterable[str] | None = None) -> tuple[list[Run], dict[str, Exclusion]]:
    """The plan for a built librdkafka ``tests/`` directory and kraft's excluded.txt."""
    subtests = parse_test_table((tests_dir / "test.c").read_text(errors="replace"))
    excluded = parse_excluded(excluded_path.read_text(), str(excluded_path))
    return plan_runs(subtests, excluded, only), excluded
