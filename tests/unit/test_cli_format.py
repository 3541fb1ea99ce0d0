"""Text and JSON shapes of the CLI's output, without a cluster."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from kraft import cli_format as fmt
from kraft.errors import ConfigError, UnknownTopicOrPartition


@dataclass(frozen=True)
class Partition:
    partition: int
    leader: int | None
    replicas: list[int]
    high_watermark: int | None
    log_start_offset: int | None = None
    size_bytes: int | None = None
    replica_states: dict[int, str] = field(default_factory=dict)

    @property
    def under_replicated(self) -> bool:
        return self.leader is None or any(
            not self.replica_states.get(r, "unknown").startswith(("leader", "in sync", "behind"))
            for r in self.replicas)


def test_table_aligns_numbers_right_and_text_left() -> None:
    table = fmt.render_table(
        ["topic", "partition", "replicas"],
        [["orders", 0, [1, 2, 3]], ["payments-eu", 12, [2]]],
    )
    assert table.splitlines() == [
        "topic        partition  replicas",
        "orders               0  1,2,3",
        "payments-eu         12  2",
    ]


def test_table_none_is_a_dash_and_stays_right_aligned() -> None:
    table = fmt.render_table(["leader", "state"], [[None, "down"], [10, "up"]])
    assert table.splitlines() == ["leader  state", "     -  down", "    10  up"]


def test_table_without_rows_is_the_header() -> None:
    assert fmt.render_table(["a", "bb"], []) == "a  bb"


def test_table_rows_must_match_headers() -> None:
    with pytest.raises(ValueError):
        fmt.render_table(["a", "b"], [[1]])


def test_cell_escapes_control_characters_and_decodes_bytes() -> None:
    assert fmt.cell("a\nb\tc\x00") == "a\\nb\\tc\\x00"
    assert fmt.cell(b"caf\xc3\xa9") == "café"
    assert fmt.cell(b"\xff") == "\\xff"
    assert fmt.cell(True) == "True"
    assert fmt.cell(None) == "-"
    assert fmt.cell((1, None)) == "1,-"


def test_stream_table_fixed_widths_and_unpadded_last_column() -> None:
    table = fmt.StreamTable([fmt.Column("p", 3, right=True), fmt.Column("key", 5), fmt.Column("value", 0)])
    assert table.header() == "  p  key    value"
    assert table.row([1, b"k", b"hello world"]) == "  1  k      hello world"
    # A cell wider than its column widens that row only: data is never cut.
    assert table.row([1234, "long-key", ""]) == "1234  long-key"


def test_record_columns_header() -> None:
    header = fmt.StreamTable(fmt.RECORD_COLUMNS).header()
    assert header.split() == ["partition", "offset", "timestamp", "key", "value"]


def test_timestamp_is_utc_iso_with_milliseconds() -> None:
    assert fmt.format_timestamp_ms(0) == "1970-01-01T00:00:00.000Z"
    assert fmt.format_timestamp_ms(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"
    assert fmt.format_timestamp_ms(-1) == "-"
    assert fmt.format_timestamp_ms(None) == "-"


def test_json_bytes_keeps_text_and_base64s_the_rest() -> None:
    assert fmt.json_bytes(None) is None
    assert fmt.json_bytes(b"hello") == "hello"
    assert fmt.json_bytes(b"\xff\x00") == {"base64": "/wA="}


def test_record_json_line() -> None:
    obj = fmt.record_json(
        topic="t",
        partition=2,
        offset=40,
        key=None,
        value=b"v",
        timestamp_ms=5,
        headers=[("h", b"1"), ("h", b"\xff")],
    )
    line = fmt.dumps(obj)
    assert "\n" not in line
    assert json.loads(line) == {
        "topic": "t",
        "partition": 2,
        "offset": 40,
        "timestamp_ms": 5,
        "key": None,
        "value": "v",
        "headers": [["h", "1"], ["h", {"base64": "/w=="}]],
    }


def test_dumps_keeps_unicode_and_field_order() -> None:
    assert fmt.dumps({"b": "é", "a": 1}) == '{"b": "é", "a": 1}'


def test_error_text_and_json() -> None:
    err = ConfigError("cluster.ini: [node.2] client_port: 'abc' is not an integer")
    assert fmt.error_text(err) == "error: CONFIG_ERROR: cluster.ini: [node.2] client_port: 'abc' is not an integer"
    assert fmt.error_json(UnknownTopicOrPartition("no topic x")) == {
        "error": "UNKNOWN_TOPIC_OR_PARTITION",
        "code": 3,
        "message": "no topic x",
    }


def test_parse_header() -> None:
    assert fmt.parse_header("trace=abc=d") == ("trace", b"abc=d")
    assert fmt.parse_header("empty=") == ("empty", b"")
    for bad in ("novalue", "=x", ""):
        with pytest.raises(ValueError, match="name=value"):
            fmt.parse_header(bad)


def test_partition_row_and_json() -> None:
    p = Partition(partition=1, leader=None, replicas=[2, 3], high_watermark=0)
    assert fmt.partition_row(p) == [1, None, [2, 3], "unknown", None, 0, None]
    assert fmt.partition_json(p) == {"partition": 1, "leader": None, "replicas": [2, 3], "log_start_offset": None,
                                     "high_watermark": 0, "size_bytes": None, "replica_states": {},
                                     "under_replicated": True}
    table = fmt.render_table(fmt.PARTITION_HEADERS, [fmt.partition_row(p)])
    assert table.splitlines()[1].split() == ["1", "-", "2,3", "unknown", "-", "0", "-"]
    p = Partition(partition=0, leader=2, replicas=[2], high_watermark=900, log_start_offset=40, size_bytes=1_536_000,
                  replica_states={2: "leader"})
    assert fmt.partition_row(p) == [0, 2, [2], "2: leader", 40, 900, "1.5 MiB"]  # people get units, scripts bytes
    assert fmt.partition_json(p)["size_bytes"] == 1_536_000
    assert fmt.partition_json(p)["under_replicated"] is False
    p = Partition(partition=0, leader=1, replicas=[1, 2, 3], high_watermark=9,
                  replica_states={1: "leader", 2: "in sync", 3: "catching up, 120 behind"})
    assert fmt.partition_row(p)[3] == "1: leader, 2: in sync, 3: catching up, 120 behind"
    assert fmt.partition_json(p)["under_replicated"] is True


def test_replica_state_words() -> None:
    from kraft.apis.admin import replica_state

    assert [replica_state("voter", 0), replica_state("voter", 7), replica_state("learner", 120),
            replica_state("unreachable", 3)] == ["in sync", "behind 7", "catching up, 120 behind", "unreachable"]


@pytest.mark.parametrize(("n", "text"), [
    (None, None), (0, "0 B"), (1023, "1023 B"), (1024, "1 KiB"), (1536, "1.5 KiB"), (10 * 1024 - 1, "10 KiB"),
    (150_000, "146 KiB"), (2**20 - 1, "1 MiB"), (5 * 2**30, "5 GiB"), (3 * 2**40, "3 TiB"), (2**60, "1024 PiB"),
])
def test_human_bytes(n: int | None, text: str | None) -> None:
    assert fmt.human_bytes(n) == text


def test_summary_rate() -> None:
    assert fmt.summary_rate(12_000, 1.2) == "12,000 records in 1.2 s (10,000 records/s)"
    assert fmt.summary_rate(1, 0.0) == "1 record in 0.0 s"
    assert fmt.summary_rate(0, 3.0) == "0 records in 3.0 s"


@dataclass(frozen=True)
class Config:
    value: int | float | str
    source: str
    default: int | float | str


def test_config_rows_and_json() -> None:
    configs = {"cleanup.policy": Config("compact,delete", "topic", "delete"),
               "min.cleanable.dirty.ratio": Config(1.0, "cluster", 1.0), "retention.ms": Config(-1, "topic", 7)}
    assert fmt.render_table(fmt.CONFIG_HEADERS, fmt.config_rows(configs)).splitlines() == [
        "config                     value           source",
        "cleanup.policy             compact,delete  topic",
        "min.cleanable.dirty.ratio  1.0             cluster",
        "retention.ms               -1              topic",
    ]
    assert fmt.configs_json(configs)[2] == {"name": "retention.ms", "value": -1, "source": "topic", "default": 7}


@pytest.mark.parametrize(("items", "parsed"), [
    ([], {}),
    (["retention.ms=1000", " cleanup.policy = compact,delete "], {"retention.ms": "1000",
                                                                 "cleanup.policy": "compact,delete"}),
    (["a=b=c"], {"a": "b=c"}),
    (["a="], {"a": ""}),  # an empty value is the node's to refuse, naming the key
])
def test_parse_topic_configs(items: list[str], parsed: dict[str, str]) -> None:
    assert fmt.parse_topic_configs(items) == parsed


@pytest.mark.parametrize(("items", "words"), [(["noequals"], "not name=value"), (["=1"], "not name=value"),
                                             (["a=1", "a=2"], "given twice")])
def test_parse_topic_configs_refuses(items: list[str], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        fmt.parse_topic_configs(items)


def test_plan_rows_summary_and_json() -> None:
    from kraft.apis.types import PlannedMove, RebalancePlan

    plan = RebalancePlan([PlannedMove("t", 0, [1, 2], None, [3, 2]), PlannedMove("t", 1, [1, 2], [2, 4], [2, 1])],
                         {1: 2, 2: 2, 3: 0, 4: 1}, {1: 1, 2: 2, 3: 1, 4: 0}, {1: 2, 2: 0, 3: 0, 4: 0},
                         {1: 0, 2: 1, 3: 1, 4: 0}, [4])
    assert [fmt.move_row(m) for m in plan.moves] == [["t", 0, "1,2", "3,2", 1],
                                                     ["t", 1, "1,2 (moving to 2,4)", "2,1", 1]]
    assert fmt.plan_node_rows(plan)[0] == [1, 2, 1, 2, 0, ""]
    assert fmt.plan_node_rows(plan)[3] == [4, 1, 0, 0, 0, "decommissioned"]
    assert fmt.plan_summary(plan) == "2 partition(s) to change: 2 replica(s) to move"
    reorder = RebalancePlan([PlannedMove("t", 0, [1, 2], None, [2, 1])], {}, {}, {}, {})
    assert fmt.plan_summary(reorder).endswith("1 only reordered (a new preferred leader, no data moved)")
    assert fmt.plan_summary(RebalancePlan([], {}, {}, {}, {})) == "the cluster is balanced: nothing to move"
    as_json = fmt.plan_json(plan)
    assert as_json["moved_replicas"] == 2
    assert as_json["decommissioned"] == [4]
    assert as_json["leaders_per_node"] == [{"node": 1, "before": 2, "after": 0}, {"node": 2, "before": 0, "after": 1},
                                           {"node": 3, "before": 0, "after": 1}, {"node": 4, "before": 0, "after": 0}]
