"""The ``kraft`` command where no cluster is needed: help, config errors, argument checks, and the
process commands when nothing runs. Commands against real nodes are tested in tests/cluster."""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, NamedTuple

import pytest
from typer.testing import CliRunner

import cli
import kraft
from kraft.apis.types import ConfigEntry, PartitionInfo
from kraft.config import ClusterConfig
from kraft.errors import (
    InvalidConfig,
    InvalidPartitions,
    OffsetOutOfRange,
    RecordTooLarge,
    RequestTimedOut,
    TopicAlreadyExists,
    UnknownTopicOrPartition,
)
from kraft.testing.local_cluster import free_ports

runner = CliRunner()


def free_port() -> int:
    return free_ports(1)[0]


def write_config(tmp_path: Path, nodes: int = 1, client_port: str | None = None) -> Path:
    text = "[cluster]\ndata_dir = data\n"
    for node_id in range(1, nodes + 1):
        port = client_port or str(free_port())
        text += f"[node.{node_id}]\nhost = 127.0.0.1\nclient_port = {port}\nraft_port = {free_port()}\n"
    path = tmp_path / "cluster.ini"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--help"],
        ["node", "start", "--help"],
        ["cluster", "--help"],
        ["cluster", "up", "--help"],
        ["cluster", "down", "--help"],
        ["cluster", "status", "--help"],
        ["cluster", "kill", "--help"],
        ["cluster", "start", "--help"],
        ["topic", "--help"],
        ["topic", "create", "--help"],
        ["topic", "alter", "--help"],
        ["topic", "add-partitions", "--help"],
        ["cluster", "rebalance", "--help"],
        ["cluster", "decommission", "--help"],
        ["produce", "--help"],
        ["consume", "--help"],
    ],
)
def test_help(args: list[str]) -> None:
    result = runner.invoke(cli.app, args)
    assert result.exit_code in (0, 2)  # no_args_is_help exits 2 as click does for a missing command
    assert "Usage" in result.output


def test_top_level_help_lists_the_commands() -> None:
    out = runner.invoke(cli.app, ["--help"]).output
    for command in ("node", "cluster", "topic", "produce", "consume"):
        assert command in out


def test_bad_config_exits_1_naming_section_and_key(tmp_path: Path) -> None:
    path = write_config(tmp_path, client_port="abc")
    result = runner.invoke(cli.app, ["topic", "list", "--config", str(path)])
    assert result.exit_code == 1
    assert result.stderr == f"error: CONFIG_ERROR: {path}: [node.1] client_port: 'abc' is not an integer\n"
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_bad_config_in_json_mode_prints_a_json_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, client_port="abc")
    result = runner.invoke(cli.app, ["cluster", "up", "--config", str(path), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "error": "CONFIG_ERROR",
        "code": 1004,
        "message": f"{path}: [node.1] client_port: 'abc' is not an integer",
    }


def test_missing_config_file(tmp_path: Path) -> None:
    result = runner.invoke(cli.app, ["cluster", "down", "--config", str(tmp_path / "nope.ini")])
    assert result.exit_code == 1
    assert "no such file" in result.stderr


def test_empty_bootstrap_is_an_error() -> None:
    result = runner.invoke(cli.app, ["topic", "list", "--bootstrap", " "])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: CONFIG_ERROR: --bootstrap is empty")


def test_node_start_needs_node_when_the_file_has_several(tmp_path: Path) -> None:
    path = write_config(tmp_path, nodes=2)
    result = runner.invoke(cli.app, ["node", "start", "--config", str(path)])
    assert result.exit_code == 1
    assert "has nodes 1, 2: choose one with --node" in result.stderr


def test_node_start_unknown_node(tmp_path: Path) -> None:
    path = write_config(tmp_path, nodes=2)
    result = runner.invoke(cli.app, ["node", "start", "--config", str(path), "--node", "5"])
    assert result.exit_code == 1
    assert "no [node.5] section (nodes: 1, 2)" in result.stderr


def test_node_start_runs_the_only_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[ClusterConfig, int]] = []
    monkeypatch.setattr("kraft.node.main.run_node", lambda config, node_id: calls.append((config, node_id)))
    path = write_config(tmp_path, nodes=1)
    result = runner.invoke(cli.app, ["node", "start", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert [(c.path, n) for c, n in calls] == [(path, 1)]


def test_cluster_kill_when_not_running(tmp_path: Path) -> None:
    path = write_config(tmp_path, nodes=2)
    result = runner.invoke(cli.app, ["cluster", "kill", "--config", str(path), "--node", "2", "--signal", "stop"])
    assert result.exit_code == 1
    assert result.stderr == "error: NODE_PROCESS_ERROR: node 2 is not running\n"


def test_cluster_down_when_nothing_runs(tmp_path: Path) -> None:
    path = write_config(tmp_path, nodes=2)
    result = runner.invoke(cli.app, ["cluster", "down", "--config", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "nodes": [{"node": 1, "result": "not running"}, {"node": 2, "result": "not running"}]
    }
    table = runner.invoke(cli.app, ["cluster", "down", "--config", str(path)]).stdout
    assert table.splitlines() == ["node  result", "   1  not running", "   2  not running"]


def test_cluster_status_with_every_node_down(tmp_path: Path) -> None:
    path = write_config(tmp_path, nodes=2)
    result = runner.invoke(cli.app, ["cluster", "status", "--config", str(path), "--json"])
    assert result.exit_code == 1
    status = json.loads(result.stdout)
    assert [(n["node"], n["state"]) for n in status["nodes"]] == [(1, "down"), (2, "down")]
    assert status["topics"] is None
    assert result.stderr == "error: NETWORK_EXCEPTION: no node answered\n"


def test_cluster_status_table_with_bootstrap(tmp_path: Path) -> None:
    port = free_port()
    result = runner.invoke(cli.app, ["cluster", "status", "--bootstrap", f"127.0.0.1:{port}"])
    assert result.exit_code == 1
    header, row = result.stdout.splitlines()[:2]
    assert header.split() == ["node", "address", "state", "process", "detail"]
    assert row.split()[:4] == ["-", f"127.0.0.1:{port}", "down", "-"]
    assert result.stdout.splitlines()[-1] == "topics: unknown"
    assert result.stderr == "error: NETWORK_EXCEPTION: no node answered\n"


def test_produce_rejects_a_bad_header() -> None:
    result = runner.invoke(cli.app, ["produce", "t", "v", "--header", "novalue"])
    assert result.exit_code == 2
    assert "name=value" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--offset", "3"], "--offset needs --partition"),
        (["--offset", "3", "--partition", "0", "--from-beginning"], "not both"),
        (["--max-messages", "0"], "--max-messages"),
    ],
)
def test_consume_rejects_bad_options(args: list[str], message: str) -> None:
    result = runner.invoke(cli.app, ["consume", "t", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_acks_choices() -> None:
    assert cli.producer_acks(cli.Acks.ALL) == "all"
    assert cli.producer_acks(cli.Acks.ONE) == 1
    assert cli.producer_acks(cli.Acks.NONE) == 0
    result = runner.invoke(cli.app, ["produce", "t", "v", "--acks", "2"])
    assert result.exit_code == 2


def test_call_with_deadline() -> None:
    assert cli.call_with_deadline(lambda: 42, 5, "answer") == 42
    with pytest.raises(ZeroDivisionError):
        cli.call_with_deadline(lambda: 1 // 0, 5, "answer")
    never = threading.Event()
    with pytest.raises(RequestTimedOut, match=r"topics: no answer within 0\.05 s"):
        cli.call_with_deadline(never.wait, 0.05, "topics")


# --- client commands over fake clients (the real ones are exercised against nodes in tests/cluster) ---


class Metadata(NamedTuple):
    topic: str
    partition: int
    offset: int
    timestamp_ms: int


class Record(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: list[tuple[str, bytes]]


Partition = PartitionInfo


@dataclass
class Description:
    name: str
    partitions: list[Partition] = field(default_factory=list)


class FakeAdmin:
    topics: ClassVar[dict[str, int]] = {}
    configs: ClassVar[dict[str, dict[str, object]]] = {}
    bootstraps: ClassVar[list[str]] = []

    def __init__(self, bootstrap: str, request_timeout_ms: int = 30000) -> None:
        self.bootstrap = bootstrap
        self.bootstraps.append(bootstrap)

    def create_topic(self, name: str, partitions: int | None = None, replication_factor: int | None = None,
                     config: dict[str, object] | None = None) -> None:
        if name in self.topics:
            raise TopicAlreadyExists(f"topic {name} exists")
        self.topics[name] = partitions or 3
        self.configs[name] = dict(config or {})

    def describe_configs(self, name: str) -> dict[str, ConfigEntry]:
        if name not in self.topics:
            raise UnknownTopicOrPartition(f"no topic {name}")
        own = self.configs.get(name, {})
        return {"cleanup.policy": ConfigEntry(str(own.get("cleanup.policy", "delete")),
                                              "topic" if "cleanup.policy" in own else "default", "delete"),
                "retention.ms": ConfigEntry(3600000, "cluster", 3600000),
                "min.cleanable.dirty.ratio": ConfigEntry(1.0, "topic", 0.5)}

    def alter_configs(self, name: str, set: dict[str, object], delete: list[str]) -> None:
        if "bogus" in set:
            raise InvalidConfig("bogus: unknown topic config")
        self.configs[name].update(set)
        for key in delete:
            self.configs[name].pop(key, None)

    def list_topics(self) -> list[str]:
        return sorted(self.topics)

    def describe_topic(self, name: str) -> Description:
        if name not in self.topics:
            raise UnknownTopicOrPartition(f"no topic {name}")
        return Description(name, [Partition(p, 1, [1, 2], 10 * p, 2 * p, 3000 * p, {1: "leader", 2: "in sync"})
                                  for p in range(self.topics[name])])

    def delete_topic(self, name: str) -> None:
        del self.topics[name]

    def create_partitions(self, topic: str, total: int, *, validate_only: bool = False) -> None:
        if topic not in self.topics:
            raise UnknownTopicOrPartition(f"no topic {topic}")
        if total <= self.topics[topic]:
            raise InvalidPartitions(f"the topic has {self.topics[topic]} partitions already")
        if not validate_only:
            self.topics[topic] = total

    def delete_records(self, topic: str, before_offsets: dict[int, int]) -> dict[int, int]:
        if topic not in self.topics:
            raise UnknownTopicOrPartition(f"no topic {topic}")
        if any(o > 10 for o in before_offsets.values()):
            raise OffsetOutOfRange("beyond the high watermark 10")
        return {p: 10 if o == -1 else o for p, o in before_offsets.items()}

    def close(self) -> None:
        pass


class FakeProducer:
    last: ClassVar[FakeProducer]

    def __init__(self, bootstrap: str, acks: str | int = "all") -> None:
        self.acks = acks
        self.sent: list[tuple[str, bytes, bytes | None, object, int | None]] = []
        self.closed = False
        FakeProducer.last = self

    def send(
        self,
        topic: str,
        value: bytes = b"",
        key: bytes | None = None,
        headers: object = None,
        partition: int | None = None,
    ) -> Future[Metadata]:
        future: Future[Metadata] = Future()
        p = partition if partition is not None else len(self.sent) % 2
        offset = sum(1 for *_, q in self.sent if q == p)
        self.sent.append((topic, value, key, headers, p))
        if value == b"too big":
            future.set_exception(RecordTooLarge("record is 2 MiB"))
        else:
            future.set_result(Metadata(topic, p, offset, 1_700_000_000_000))
        return future

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class FakeConsumer:
    batches: ClassVar[list[list[Record]]] = []
    last: ClassVar[FakeConsumer]

    def __init__(self, bootstrap: str) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.pending = list(self.batches)
        FakeConsumer.last = self

    def assign(self, tps: list[object]) -> None:
        self.calls.append(("assign", *tps))

    def seek_to_beginning(self) -> None:
        self.calls.append(("beginning",))

    def seek_to_end(self) -> None:
        self.calls.append(("end",))

    def seek(self, tp: object, offset: int) -> None:
        self.calls.append(("seek", tp, offset))

    def poll(self, timeout_ms: int) -> list[Record]:
        return self.pending.pop(0) if self.pending else []

    def close(self) -> None:
        self.calls.append(("close",))


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeAdmin.topics = {"orders": 2}
    monkeypatch.setattr(kraft, "Admin", FakeAdmin, raising=False)
    monkeypatch.setattr(kraft, "Producer", FakeProducer, raising=False)
    monkeypatch.setattr(kraft, "Consumer", FakeConsumer, raising=False)
    monkeypatch.setattr(kraft, "TopicPartition", lambda t, p: (t, p), raising=False)
    # The fakes stand for the cluster: nothing listens at the bootstrap address they are given.
    monkeypatch.setattr("kraft.bootstrap.require_reachable", lambda bootstrap, timeout_s=0: None)


B = ["--bootstrap", "h:1"]


@pytest.mark.usefixtures("fakes")
def test_topic_commands() -> None:
    assert runner.invoke(cli.app, ["topic", "create", "events", "-p", "4", *B]).stdout == "created topic events\n"
    assert runner.invoke(cli.app, ["topic", "list", *B]).stdout == "events\norders\n"
    assert json.loads(runner.invoke(cli.app, ["topic", "list", *B, "--json"]).stdout) == {
        "topics": ["events", "orders"]
    }
    described = runner.invoke(cli.app, ["topic", "describe", "orders", *B]).stdout
    assert described.splitlines() == [
        "partition  leader  replicas  replica states         log start  high watermark  size",
        "        0       1  1,2       1: leader, 2: in sync          0               0  0 B",
        "        1       1  1,2       1: leader, 2: in sync          2              10  2.9 KiB",
        "",
        "config                     value    source",
        "cleanup.policy             delete   default",
        "retention.ms               3600000  cluster",
        "min.cleanable.dirty.ratio  1.0      topic",
    ]
    as_json = json.loads(runner.invoke(cli.app, ["topic", "describe", "orders", *B, "--json"]).stdout)
    assert as_json["partitions"][1] == {"partition": 1, "leader": 1, "replicas": [1, 2], "log_start_offset": 2,
                                        "high_watermark": 10, "size_bytes": 3000,
                                        "replica_states": {"1": "leader", "2": "in sync"}, "under_replicated": False}
    assert as_json["configs"][1] == {"name": "retention.ms", "value": 3600000, "source": "cluster",
                                     "default": 3600000}
    assert runner.invoke(cli.app, ["topic", "delete", "events", *B]).stdout == "deleted topic events\n"
    again = runner.invoke(cli.app, ["topic", "create", "orders", *B, "--json"])
    assert again.exit_code == 1
    assert json.loads(again.stdout) == {"error": "TOPIC_ALREADY_EXISTS", "code": 36, "message": "topic orders exists"}


@pytest.mark.usefixtures("fakes")
def test_topic_add_partitions() -> None:
    checked = runner.invoke(cli.app, ["topic", "add-partitions", "orders", "--to", "6", "--validate-only", *B])
    assert checked.stdout == "topic orders can grow to 6 partitions (--validate-only: nothing changed)\n"
    assert FakeAdmin.topics["orders"] == 2
    grown = runner.invoke(cli.app, ["topic", "add-partitions", "orders", "--to", "6", *B])
    assert (grown.exit_code, grown.stdout) == (0, "topic orders now has 6 partitions\n")
    assert "murmur2(key) % 6" in grown.stderr, "a word on what happens to keyed records"
    assert FakeAdmin.topics["orders"] == 6
    as_json = runner.invoke(cli.app, ["topic", "add-partitions", "orders", "--to", "8", *B, "--json"])
    assert json.loads(as_json.stdout) == {"topic": "orders", "partitions": 8, "validate_only": False}
    refused = runner.invoke(cli.app, ["topic", "add-partitions", "orders", "--to", "8", *B, "--json"])
    assert refused.exit_code == 1
    assert json.loads(refused.stdout) == {"error": "INVALID_PARTITIONS", "code": 37,
                                          "message": "the topic has 8 partitions already"}
    missing = runner.invoke(cli.app, ["topic", "add-partitions", "nope", "--to", "3", *B])
    assert (missing.exit_code, missing.stderr) == (1, "error: UNKNOWN_TOPIC_OR_PARTITION: no topic nope\n")
    assert runner.invoke(cli.app, ["topic", "add-partitions", "orders", *B]).exit_code == 2  # --to is required
    assert runner.invoke(cli.app, ["topic", "add-partitions", "orders", "--to", "0", *B]).exit_code == 2


@pytest.mark.usefixtures("fakes")
def test_topic_configs_on_create_and_alter(tmp_path: Path) -> None:
    created = runner.invoke(cli.app, ["topic", "create", "c", "--config", "cleanup.policy=compact",
                                      "-c", "retention.ms = 1000", *B, "--json"])
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["configs"] == {"cleanup.policy": "compact", "retention.ms": "1000"}
    assert FakeAdmin.configs["c"] == {"cleanup.policy": "compact", "retention.ms": "1000"}
    # --config without '=' is the cluster.ini, as on every other command
    ini = write_config(tmp_path, client_port="7777")
    assert runner.invoke(cli.app, ["topic", "create", "d", "--config", str(ini), "-c", "segment.ms=5"]).exit_code == 0
    assert FakeAdmin.bootstraps[-1] == "127.0.0.1:7777" and FakeAdmin.configs["d"] == {"segment.ms": "5"}
    altered = runner.invoke(cli.app, ["topic", "alter", "c", "--config", "retention.ms=5", "--delete-config",
                                      "cleanup.policy", *B])
    assert altered.stdout == "altered topic c\n"
    assert FakeAdmin.configs["c"] == {"retention.ms": "5"}
    refused = runner.invoke(cli.app, ["topic", "alter", "c", "--config", "bogus=1", *B])
    assert (refused.exit_code, refused.stderr) == (1, "error: INVALID_CONFIG: bogus: unknown topic config\n")


@pytest.mark.parametrize(("args", "words"), [
    (["topic", "alter", "c", *B], "nothing to change"),
    (["topic", "create", "c", "--config", "=1", *B], "'=1' is not name=value"),
    (["topic", "create", "c", "--config", "a=1", "--config", "a=2", *B], "'a' is given twice"),
    (["topic", "create", "c", "--config", "one.ini", "--config", "two.ini"], "one cluster.ini, not 2"),
])
def test_bad_topic_config_arguments(args: list[str], words: str) -> None:
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 2 and words in result.output


@pytest.mark.usefixtures("fakes")
def test_topic_delete_records() -> None:
    deleted = runner.invoke(cli.app, ["topic", "delete-records", "orders", "--partition", "1", "--before", "4", *B])
    assert deleted.exit_code == 0, deleted.output
    assert deleted.stdout == "orders partition 1 low watermark 4\n"
    everything = runner.invoke(cli.app, ["topic", "delete-records", "orders", "-p", "0", "--before", "-1", *B,
                                         "--json"])
    assert json.loads(everything.stdout) == {"topic": "orders", "partition": 0, "low_watermark": 10}
    beyond = runner.invoke(cli.app, ["topic", "delete-records", "orders", "-p", "0", "--before", "11", *B])
    assert beyond.exit_code == 1
    assert beyond.stderr == "error: OFFSET_OUT_OF_RANGE: beyond the high watermark 10\n"
    assert runner.invoke(cli.app, ["topic", "delete-records", "orders", "-p", "0", "--before", "-2", *B]).exit_code == 2


@pytest.mark.usefixtures("fakes")
def test_produce_one_record() -> None:
    result = runner.invoke(cli.app, ["produce", "orders", "hello", "--key", "k1", "-H", "a=b", "--acks", "0", *B])
    assert result.exit_code == 0, result.output
    assert result.stdout == "orders partition 0 offset 0\n"
    assert FakeProducer.last.sent == [("orders", b"hello", b"k1", [("a", b"b")], 0)]
    assert FakeProducer.last.acks == 0
    assert FakeProducer.last.closed


@pytest.mark.usefixtures("fakes")
def test_produce_lines_of_stdin() -> None:
    result = runner.invoke(cli.app, ["produce", "orders", *B, "--json"], input="a\nb\r\n\nc")
    assert result.exit_code == 0, result.output
    assert [s[1] for s in FakeProducer.last.sent] == [b"a", b"b", b"", b"c"]
    assert json.loads(result.stdout) == {"topic": "orders", "records": 4, "offsets": {"0": [0, 1], "1": [0, 1]}}
    assert result.stderr.startswith("produced 4 records in ")


@pytest.mark.usefixtures("fakes")
def test_produce_stops_at_the_first_failed_record() -> None:
    result = runner.invoke(cli.app, ["produce", "orders", *B], input="ok\ntoo big\nnever acknowledged\n")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith("produced 1 record in ")
    assert result.stderr.splitlines()[-1] == "error: RECORD_TOO_LARGE: record is 2 MiB"
    assert FakeProducer.last.closed


def records(partition: int, offsets: range) -> list[Record]:
    return [Record("orders", partition, o, b"k", f"v{o}".encode(), 0, [("h", b"1")]) for o in offsets]


@pytest.mark.usefixtures("fakes")
def test_consume_table_until_max_messages() -> None:
    FakeConsumer.batches = [records(0, range(3)), [], records(1, range(5))]
    result = runner.invoke(cli.app, ["consume", "orders", "--from-beginning", "--max-messages", "5", *B])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["partition", "offset", "timestamp", "key", "value"]
    assert lines[1].split() == ["0", "0", "1970-01-01T00:00:00.000Z", "k", "v0"]
    assert [line.split()[:2] for line in lines[1:]] == [["0", "0"], ["0", "1"], ["0", "2"], ["1", "0"], ["1", "1"]]
    assert result.stderr == "consumed 5 records\n"
    assert FakeConsumer.last.calls == [("assign", ("orders", 0), ("orders", 1)), ("beginning",), ("close",)]


@pytest.mark.usefixtures("fakes")
def test_consume_json_lines_until_idle_timeout() -> None:
    FakeConsumer.batches = [records(1, range(7, 9))]
    result = runner.invoke(
        cli.app, ["consume", "orders", "-p", "1", "--offset", "7", "--timeout-ms", "50", *B, "--json"]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0] == {
        "topic": "orders",
        "partition": 1,
        "offset": 7,
        "timestamp_ms": 0,
        "key": "k",
        "value": "v7",
        "headers": [["h", "1"]],
    }
    assert [r["offset"] for r in lines] == [7, 8]
    assert FakeConsumer.last.calls == [("assign", ("orders", 1)), ("seek", ("orders", 1), 7), ("close",)]


@pytest.mark.usefixtures("fakes")
def test_consume_new_records_only_by_default_and_unknown_partition() -> None:
    FakeConsumer.batches = []
    result = runner.invoke(cli.app, ["consume", "orders", "--timeout-ms", "0", *B])
    assert result.exit_code == 0
    assert FakeConsumer.last.calls[1] == ("end",)
    bad = runner.invoke(cli.app, ["consume", "orders", "-p", "5", *B])
    assert bad.exit_code == 1
    assert bad.stderr == "error: UNKNOWN_TOPIC_OR_PARTITION: topic orders has no partition 5 (it has 2)\n"
    missing = runner.invoke(cli.app, ["consume", "nope", *B])
    assert missing.stderr == "error: UNKNOWN_TOPIC_OR_PARTITION: no topic nope\n"


def test_client_command_says_at_once_that_no_node_answers(tmp_path: Path) -> None:
    """No fakes: nothing listens on the config's client port, and the command says so in seconds."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        ini = tmp_path / "cluster.ini"
        ini.write_text(f"[node.1]\nhost = 127.0.0.1\nclient_port = {port}\nraft_port = {port + 1}\n")
        started = time.monotonic()
        result = CliRunner().invoke(cli.app, ["topic", "list", "--config", str(ini)])
    assert result.exit_code == 1
    assert "NETWORK_EXCEPTION: cannot reach any node" in result.output and f"127.0.0.1:{port}" in result.output
    assert time.monotonic() - started < 5
