"""The librdkafka compat harness's pure parts: reading librdkafka's test table and kraft's
excluded.txt, planning the runs, judging a run from the test-runner's exit, report and output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.compat.librdkafka import outcome, suite
from tests.compat.librdkafka.suite import Exclusion, Run, SuiteError

REPO = Path(__file__).resolve().parents[2]

TEST_C = """
struct test tests[] = {
    /* Special MAIN test to hold over-all timings, etc. */
    {.name = "<MAIN>", .flags = TEST_F_LOCAL},
    _TEST(0000_unittests,
          TEST_F_LOCAL,
          _THRES(.ucpu = 100.0, .scpu = 20.0, .rss = 900.0)),
    _TEST(0001_multiobj, 0),
    _TEST(0028_long_topicnames,
          TEST_F_KNOWN_ISSUE,
          TEST_BRKVER(0, 9, 0, 0),
          .extra = "https://github.com/confluentinc/librdkafka/issues/529"),
    _TEST(0045_subscribe_update, 0, TEST_BRKVER(0, 9, 0, 0)),
    _TEST(0045_subscribe_update_topic_remove,
          0,
          TEST_BRKVER(0, 9, 0, 0),
          .scenario = "noautocreate"),
    _TEST(0045_subscribe_update_mock, TEST_F_LOCAL),
#if WITH_SOCKEM
    _TEST(0049_consume_conn_close, TEST_F_SOCKEM, TEST_BRKVER(0, 9, 0, 0)),
#endif
    _TEST(0066_plugins,
          TEST_F_LOCAL | TEST_F_KNOWN_ISSUE_WIN32 | TEST_F_KNOWN_ISSUE_OSX,
          .extra = "dynamic loading"),
    _TEST(0103_transactions,
          0,
          TEST_BRKVER(0, 11, 0, 0),
          .scenario = "default,ak23"),
    _TEST(0107_topic_recreate, 0, TEST_BRKVER_TOPIC_ADMINAPI, .scenario = "noautocreate"),
    _TEST(8000_idle, TEST_F_MANUAL),

    {NULL}};
"""

EXCLUDED = """
# comment
0000  local         unit tests (no broker)
0028  known-issue   librdkafka issue 529
0066  local         plugins   # trailing comment
0103  transactions  transactional producer
8000  manual        idle
"""


def test_table_entries_flags_and_scenarios() -> None:
    subs = {s.name: s for s in suite.parse_test_table(TEST_C)}
    assert list(subs)[:2] == ["0000_unittests", "0001_multiobj"]
    assert subs["0001_multiobj"].flags == frozenset() and subs["0001_multiobj"].needs_broker
    assert subs["0049_consume_conn_close"].flags == {"TEST_F_SOCKEM"}  # sockem tests are broker tests
    assert subs["0049_consume_conn_close"].needs_broker
    assert subs["0066_plugins"].flags == {"TEST_F_LOCAL", "TEST_F_KNOWN_ISSUE_WIN32", "TEST_F_KNOWN_ISSUE_OSX"}
    assert not subs["0045_subscribe_update_mock"].needs_broker
    assert not subs["0028_long_topicnames"].needs_broker  # the runner skips known issues itself
    assert subs["0045_subscribe_update_topic_remove"].scenarios == "noautocreate"
    assert subs["0103_transactions"].runs_in("default") and subs["0103_transactions"].runs_in("ak23")
    assert subs["0001_multiobj"].scenarios == "default"


def test_table_without_entries_is_an_error() -> None:
    with pytest.raises(SuiteError, match="no 'struct test tests"):
        suite.parse_test_table("int main(void) { return 0; }")
    with pytest.raises(SuiteError, match="no _TEST"):
        suite.parse_test_table("struct test tests[] = { {NULL}};")


def test_excluded_file() -> None:
    ex = suite.parse_excluded(EXCLUDED)
    assert ex["0066"] == Exclusion("0066", "local", "plugins")
    assert ex["0103"].category == "transactions"


@pytest.mark.parametrize(("text", "message"), [
    ("0001 local", "expected 'NNNN category reason'"),
    ("01 local no broker", "not a 4-digit test number"),
    ("0001 hard too slow", "unknown category 'hard'"),
    ("0001 local a\n0001 mock b", "listed twice"),
])
def test_excluded_file_refuses(text: str, message: str) -> None:
    with pytest.raises(SuiteError, match=message):
        suite.parse_excluded(text, "x.txt")


def test_plan_splits_scenarios_and_leaves_out_exclusions() -> None:
    runs = suite.plan_runs(suite.parse_test_table(TEST_C), suite.parse_excluded(EXCLUDED))
    assert [r.key for r in runs] == ["0001", "0045", "0045@noautocreate", "0049", "0107@noautocreate"]
    by_key = {r.key: r for r in runs}
    assert by_key["0045"].subtests == ("0045_subscribe_update",)  # the mock subtest is local: -L drops it
    assert by_key["0045@noautocreate"].subtests == ("0045_subscribe_update_topic_remove",)


def test_plan_refuses_an_unclassified_local_test_and_an_unknown_exclusion() -> None:
    subs = suite.parse_test_table(TEST_C)
    without_0066 = {k: v for k, v in suite.parse_excluded(EXCLUDED).items() if k != "0066"}
    with pytest.raises(SuiteError, match=r"must be listed in excluded\.txt.*0066"):
        suite.plan_runs(subs, without_0066)
    with pytest.raises(SuiteError, match="does not have: 0999"):
        suite.plan_runs(subs, {**suite.parse_excluded(EXCLUDED), "0999": Exclusion("0999", "local", "x")})


def test_plan_narrowed_to_named_tests() -> None:
    subs, ex = suite.parse_test_table(TEST_C), suite.parse_excluded(EXCLUDED)
    assert [r.key for r in suite.plan_runs(subs, ex, only=["0045"])] == ["0045", "0045@noautocreate"]
    assert suite.plan_runs(subs, ex, only=["0103"]) == []  # excluded stays excluded
    with pytest.raises(SuiteError, match="no such librdkafka tests: 0002"):
        suite.plan_runs(subs, ex, only=["0002"])


def test_repository_excluded_file_parses() -> None:
    ex = suite.parse_excluded((REPO / "compat/librdkafka/excluded.txt").read_text())
    assert len(ex) > 40
    assert all(e.reason for e in ex.values())


def test_repository_excluded_file_matches_the_built_suite() -> None:
    tests_dir = Path.home() / ".cache/kraft-compat/node-rdkafka-3.6.1/package/deps/librdkafka/tests"
    if not (tests_dir / "test.c").exists():
        pytest.skip("librdkafka's sources are not in ~/.cache/kraft-compat (compat/librdkafka/build.sh)")
    runs, _ = suite.load(tests_dir, REPO / "compat/librdkafka/excluded.txt")
    assert len(runs) > 80


REPORT = ('{ "id": "x", "tests": {"<MAIN>": {"name": "<MAIN>", "state": "PASSED", "extra": "" }, '
          '"0045_subscribe_update": {"name": "0045_subscribe_update", "state": "PASSED", '
          '"known_issue": false, "extra": "say "hi"", "duration": 1.0, "report": [ ] }, '
          '"0045_subscribe_many_updates": {"name": "0045_subscribe_many_updates", "state": "FAILED", '
          '"known_issue": false, "extra": "", "duration": 2.0, "report": [ ] }}, "tests_run": 2}')

RUN = Run("0045", "default", ("0045_subscribe_update", "0045_subscribe_many_updates"))

FAILED_OUTPUT = """\x1b[36m[0045_subscribe_many_updates / 1.2s] Creating topic\x1b[0m
\x1b[31m### Test "0045_subscribe_many_updates" failed at 0045-subscribe_update.c:120:do_test() at Fri: ###
Message delivery failed: Broker: Unknown topic or partition
### Test "<MAIN>" failed at test.c:2121:main() at Fri: ###
1 test(s) failed, see previous errors"""


def test_report_parsed_despite_a_quote_in_extra() -> None:
    assert outcome.parse_report(REPORT) == {"0045_subscribe_update": "PASSED",
                                            "0045_subscribe_many_updates": "FAILED"}


def test_judge_failure_names_the_first_failing_subtest() -> None:
    states = outcome.parse_report(REPORT)
    res = outcome.judge(RUN, 134, states, outcome._ANSI.sub("", FAILED_OUTPUT), 3.0, 300)
    assert res.outcome == "fail"
    assert res.reason == ("0045_subscribe_many_updates at 0045-subscribe_update.c:120:do_test(): "
                          "Message delivery failed: Broker: Unknown topic or partition")
    assert "1 test(s) failed" in res.tail


def test_judge_pass_skip_timeout_and_crash() -> None:
    both_passed = dict.fromkeys(RUN.subtests, "PASSED")
    assert outcome.judge(RUN, 0, both_passed, "", 1.0, 300).outcome == "pass"
    one_skipped = {**both_passed, "0045_subscribe_update": "SKIPPED"}
    assert outcome.judge(RUN, 0, one_skipped, "", 1.0, 300).outcome == "pass"
    skipped = outcome.judge(RUN, 0, dict.fromkeys(RUN.subtests, "SKIPPED"),
                            "[0045 / 0.0s] SKIPPING: Test requires SASL PLAIN\n", 0.1, 300)
    assert (skipped.outcome, skipped.reason) == ("skipped", "Test requires SASL PLAIN")
    cpp_skip = outcome.judge(RUN, 0, dict.fromkeys(RUN.subtests, "SKIPPED"),
                             "[0101 / 1.0s] WARN: SKIPPING TEST: unexpected broker.rack configuration\n", 1.0, 300)
    assert cpp_skip.reason == "unexpected broker.rack configuration"
    hung = outcome.judge(RUN, None, {}, "[0045 / 9.0s] Waiting for rebalance\n", 300.0, 300)
    assert hung.outcome == "timeout" and "Waiting for rebalance" in hung.reason
    crashed = outcome.judge(RUN, -11, {}, "", 1.0, 300)
    assert crashed.outcome == "fail" and "signal SIGSEGV" in crashed.reason
    # A clean exit code with a planned subtest missing from the report is no pass.
    partial = outcome.judge(RUN, 0, {"0045_subscribe_update": "PASSED"}, "", 1.0, 300)
    assert partial.outcome == "fail" and "NOT_REPORTED" in partial.reason


def test_command_and_environment() -> None:
    cmd = outcome.command(Path("/b/test-runner"), Run("0045", "noautocreate", ()))
    assert cmd == ["/b/test-runner", "-p1", "-L", "-s", "noautocreate"]  # not -Q: it skips most subtests
    assert outcome.command(Path("/b/test-runner"), RUN, quick=True)[-1] == "-Q"
    assert "-E" not in cmd  # sockem tests run
    env = outcome.environment({"CI": "1", "PATH": "/bin", "LD_LIBRARY_PATH": "/x"}, src_dir=Path("/s"),
                              run=RUN, test_conf=Path("/w/t.conf"), report=Path("/w/r.json"), kafka_version="3.7.0")
    assert "CI" not in env and env["PATH"] == "/bin"
    assert env["TESTS"] == "0045" and env["RDKAFKA_TEST_CONF"] == "/w/t.conf"
    assert env["LD_LIBRARY_PATH"] == "/s/src:/s/src-cpp:/x"
    assert env["TEST_KAFKA_VERSION"] == "3.7.0"


def test_kafka_topics_stand_in_refuses_what_it_does_not_do(tmp_path: Path) -> None:
    from tests.compat.librdkafka import kafka_topics
    from tests.compat.librdkafka.__main__ import write_kafka_tools

    with pytest.raises(SystemExit) as exited:
        kafka_topics.main(["--bootstrap-server", "127.0.0.1:1", "--alter", "--topic", "t", "--config", "a=b"])
    assert exited.value.code == 2
    script = write_kafka_tools(tmp_path) / "bin" / "kafka-topics.sh"
    assert script.stat().st_mode & 0o111
    assert "-m tests.compat.librdkafka.kafka_topics" in script.read_text()


def test_kafka_acls_stand_in_refuses_what_it_does_not_do(tmp_path: Path) -> None:
    from tests.compat.librdkafka import kafka_acls
    from tests.compat.librdkafka.__main__ import write_kafka_tools

    for argv in (["--add", "--topic", "t"],  # no principal
                 ["--add", "--allow-principal", "User:*"],  # no resource
                 ["--add", "--allow-principal", "User:*", "--topic", "t", "--resource-pattern-type", "match"],
                 ["--list", "--operation", "Fly"]):
        with pytest.raises(SystemExit) as exited:
            kafka_acls.main(["--bootstrap-server", "127.0.0.1:1", *argv])
        assert exited.value.code == 2, argv
    script = write_kafka_tools(tmp_path) / "bin" / "kafka-acls.sh"
    assert script.stat().st_mode & 0o111
    assert "-m tests.compat.librdkafka.kafka_acls" in script.read_text()


def test_a_kip848_run_sets_the_group_protocol_and_a_classic_one_leaves_it_unset() -> None:
    kw: dict[str, Any] = dict(src_dir=Path("/s"), test_conf=Path("/w/t.conf"), report=Path("/w/r.json"),
                              kafka_version="3.7.0")
    consumer = Run("0153", "default", (), "consumer")
    assert consumer.key == "0153#consumer"
    assert outcome.environment({}, run=consumer, **kw)["TEST_CONSUMER_GROUP_PROTOCOL"] == "consumer"
    inherited = {"TEST_CONSUMER_GROUP_PROTOCOL": "consumer"}
    assert "TEST_CONSUMER_GROUP_PROTOCOL" not in outcome.environment(inherited, run=RUN, **kw)
    planned = suite.plan_runs([suite.Subtest("0153_x", frozenset(), "default"),
                               suite.Subtest("0018_x", frozenset(), "default")], {})
    assert [r.key for r in planned] == ["0018", "0153#consumer"]
