"""cluster.ini parsing: a good file, defaults, paths, and one test per kind of mistake, each of
which must name the file, the section and the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from kraft.config import (
    DEFAULT_CONFIG_TEXT,
    ClusterConfig,
    NodeConfig,
    load_config,
    parse_config,
    render_config,
)
from kraft.errors import ConfigError, KraftError

REPO = Path(__file__).resolve().parents[2]

THREE_NODES = """\
[cluster]
data_dir = /var/lib/kraft       ; absolute
replication_factor = 3
partitions = 6
fsync = never
max_record_bytes = 2048
max_frame_bytes = 4096
max_connections = 10
heartbeat_interval_ms = 100
election_timeout_min_ms = 301
election_timeout_max_ms = 302
tick_interval_ms = 10
peer_timeout_ms = 1000
lmdb_map_size_mb = 64
fetch_max_wait_ms_max = 500
request_timeout_ms = 2000
leader_balance_interval_ms = 0
reassignment_throttle_bytes_per_s = 0
log_retention_ms = 3600000
log_cleanup_policy = delete,compact
log_cleaner_min_cleanable_ratio = 0.25

[node.1]
host = 10.0.0.1
client_port = 9192
raft_port = 9193
rack = a

[node.2]
host = 10.0.0.2
client_port = 9192              # same ports as node 1 on another host: fine
raft_port = 9193
rack = b

[node.10]
host = 10.0.0.3
client_port = 9292
raft_port = 9293
rack = a
"""

NODE_1 = "[node.1]\nhost = 127.0.0.1\nclient_port = 9192\nraft_port = 9193\n"


def parse(text: str) -> ClusterConfig:
    return parse_config(text, "cluster.ini")


def test_good_file_gives_every_value() -> None:
    config = parse(THREE_NODES)
    assert config.data_dir == Path("/var/lib/kraft")
    assert (config.replication_factor, config.partitions, config.fsync) == (3, 6, "never")
    assert config.max_record_bytes == 2048
    assert config.max_frame_bytes == 4096
    assert config.max_connections == 10
    assert (config.heartbeat_interval_ms, config.tick_interval_ms) == (100, 10)
    assert (config.election_timeout_min_ms, config.election_timeout_max_ms) == (301, 302)
    assert config.peer_timeout_ms == 1000
    assert config.lmdb_map_size_mb == 64
    assert config.lmdb_map_size_bytes == 64 * 1024 * 1024
    assert config.fetch_max_wait_ms_max == 500
    assert config.request_timeout_ms == 2000
    assert config.leader_balance_interval_ms == 0
    assert config.reassignment_throttle_bytes_per_s == 0
    assert config.nodes == {
        1: NodeConfig(1, "10.0.0.1", 9192, 9193, "a"),
        2: NodeConfig(2, "10.0.0.2", 9192, 9193, "b"),
        10: NodeConfig(10, "10.0.0.3", 9292, 9293, "a"),
    }
    assert config.node_ids == [1, 2, 10]
    assert config.bootstrap() == "10.0.0.1:9192,10.0.0.2:9192,10.0.0.3:9292"
    assert config.node_data_dir(10) == Path("/var/lib/kraft/10")
    assert config.node(2).raft_address == "10.0.0.2:9193"


def test_defaults_of_optional_keys() -> None:
    config = parse("[cluster]\n" + NODE_1)
    assert config.replication_factor == 3
    assert config.effective_replication_factor() == 1  # capped at the one node
    assert config.partitions == 3
    assert config.fsync == "always"
    assert config.max_record_bytes == 1048576
    assert config.max_frame_bytes == 16777216
    assert config.max_connections == 1024
    assert config.heartbeat_interval_ms == 400
    assert config.election_timeout_min_ms == 1500
    assert config.election_timeout_max_ms == 3000
    assert config.tick_interval_ms == 100
    assert config.peer_timeout_ms == 5000
    assert config.lmdb_map_size_mb == 16384
    assert config.fetch_max_wait_ms_max == 30000
    assert config.request_timeout_ms == 30000
    assert config.leader_balance_interval_ms == 5000
    assert config.metadata_voters == 3
    assert config.metadata_voter_replace_ms == 5000
    assert config.reassignment_throttle_bytes_per_s == 20_000_000
    assert config.nodes[1].rack is None
    assert (config.nodes[1].http_port, config.nodes[1].http_address) == (None, None)
    assert (config.log_format, config.metrics_per_partition, config.batch_format) == ("text", True, "columns")


def test_observability_keys() -> None:
    text = ("[cluster]\nlog_format = JSON\nmetrics_per_partition = off\nbatch_format = Rows\n"
            + NODE_1 + "http_port = 9300\n")
    config = parse(text)
    assert (config.log_format, config.metrics_per_partition, config.batch_format) == ("json", False, "rows")
    assert config.nodes[1].http_address == "127.0.0.1:9300"
    assert parse_config(render_config(config), config.path) == config


def test_cluster_section_is_optional() -> None:
    assert parse(NODE_1) == parse("[cluster]\n" + NODE_1)


def test_effective_replication_factor_is_capped_by_nodes() -> None:
    assert parse(THREE_NODES).effective_replication_factor() == 3
    two = THREE_NODES.replace("replication_factor = 3", "replication_factor = 2")
    assert parse(two).effective_replication_factor() == 2


def test_relative_data_dir_is_relative_to_the_file(tmp_path: Path) -> None:
    ini = tmp_path / "conf" / "cluster.ini"
    ini.parent.mkdir()
    ini.write_text("[cluster]\ndata_dir = ../store/./x\n" + NODE_1)
    config = load_config(ini)
    assert config.data_dir == tmp_path / "store" / "x"
    assert config.node_data_dir(1) == tmp_path / "store" / "x" / "1"
    assert config.path == ini


def test_load_relative_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my.ini").write_text(NODE_1)
    monkeypatch.chdir(tmp_path)
    config = load_config("my.ini")
    assert config.path == tmp_path / "my.ini"
    assert config.data_dir == tmp_path / "data"


def test_no_path_and_no_cluster_ini_uses_the_embedded_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None)
    assert config.path is None
    assert config.data_dir == tmp_path / "data"
    assert config.nodes == {1: NodeConfig(1, "127.0.0.1", 9192, 9193, None, kafka_port=9092, http_port=9194)}
    assert (config.replication_factor, config.partitions, config.fsync) == (1, 3, "always")
    assert config.bootstrap() == "127.0.0.1:9192"


def test_no_path_reads_cluster_ini_of_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cluster.ini").write_text(NODE_1.replace("9192", "7000"))
    monkeypatch.chdir(tmp_path)
    config = load_config(None)
    assert config.path == tmp_path / "cluster.ini"
    assert config.nodes[1].client_port == 7000


def test_topic_config_defaults_use_kafkas_broker_names_and_the_topic_config_table() -> None:
    config = parse(THREE_NODES)
    assert config.log_defaults == {"cleanup.policy": "compact,delete", "retention.ms": 3600000,
                                   "min.cleanable.dirty.ratio": 0.25}
    # max_record_bytes is the cluster-wide max.message.bytes when it is not kraft's default
    assert config.topic_config_defaults() == {**config.log_defaults, "max.message.bytes": 2048}
    default = parse(NODE_1)
    assert default.log_defaults == {} and default.topic_config_defaults() == {}


def test_shipped_cluster_ini_is_the_embedded_default() -> None:
    assert (REPO / "cluster.ini").read_text() == DEFAULT_CONFIG_TEXT
    assert load_config(REPO / "cluster.ini").data_dir == REPO / "data"


def test_render_parses_back_to_the_same_config() -> None:
    config = parse(THREE_NODES)
    assert parse_config(render_config(config), config.path) == config
    default = parse_config(DEFAULT_CONFIG_TEXT)
    assert parse_config(render_config(default)) == default


def test_config_is_frozen_and_hashable() -> None:
    config = parse(THREE_NODES)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.partitions = 1  # type: ignore[misc]
    assert hash(config) == hash(parse(THREE_NODES))


def test_unknown_node_names_the_nodes_there_are() -> None:
    with pytest.raises(ConfigError, match=r"no \[node\.4\] section \(nodes: 1, 2, 10\)"):
        parse(THREE_NODES).node(4)


def test_config_error_is_a_kraft_error_with_a_stable_code() -> None:
    with pytest.raises(KraftError) as info:
        parse("")
    assert info.value.code == 1004
    assert info.value.name == "CONFIG_ERROR"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.ini: no such file"):
        load_config(tmp_path / "nope.ini")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)  # a directory
    (tmp_path / "bin.ini").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(tmp_path / "bin.ini")


BAD = [
    # (text, exact message)
    (
        NODE_1.replace("9192", "abc"),
        "cluster.ini: [node.1] client_port: 'abc' is not an integer",
    ),
    (NODE_1.replace("9193", "0"), "cluster.ini: [node.1] raft_port: 0 is out of range (1..65535)"),
    (NODE_1.replace("9193", "65536"), "cluster.ini: [node.1] raft_port: 65536 is out of range (1..65535)"),
    (NODE_1.replace("9193", "1__0"), "cluster.ini: [node.1] raft_port: '1__0' is not an integer"),
    (NODE_1.replace("raft_port = 9193\n", ""), "cluster.ini: [node.1] raft_port: missing (required)"),
    (NODE_1.replace("host = 127.0.0.1\n", ""), "cluster.ini: [node.1] host: missing (required)"),
    (NODE_1.replace("127.0.0.1", ""), "cluster.ini: [node.1] host: '' is not a host name or address"),
    (NODE_1 + "rack =\n", "cluster.ini: [node.1] rack: is empty (leave the key out for no rack)"),
    (
        NODE_1.replace("client_port", "clinet_port"),
        "cluster.ini: [node.1] clinet_port: unknown key (did you mean 'client_port'?)",
    ),
    (
        NODE_1 + "colour = red\n",
        "cluster.ini: [node.1] colour: unknown key (known keys: host, client_port, raft_port, kafka_port, http_port, "
        "rack)",
    ),
    (
        "[cluster]\npartition = 3\n" + NODE_1,
        "cluster.ini: [cluster] partition: unknown key (did you mean 'partitions'?)",
    ),
    (
        "[cluster]\npartitions = 0\n" + NODE_1,
        "cluster.ini: [cluster] partitions: 0 is out of range (1..10000)",
    ),
    (
        "[cluster]\nreplication_factor = -1\n" + NODE_1,
        "cluster.ini: [cluster] replication_factor: -1 is out of range (1..128)",
    ),
    (
        "[cluster]\nleader_balance_interval_ms = -5\n" + NODE_1,
        "cluster.ini: [cluster] leader_balance_interval_ms: -5 is out of range (0..86400000)",
    ),
    (
        "[cluster]\nmetadata_voters = 4\n" + NODE_1,
        "cluster.ini: [cluster] metadata_voters: 4 must be odd (3 or 5): an even number of voters tolerates no "
        "more failures than the odd number below it",
    ),
    (
        "[cluster]\nmetadata_voters = 0\n" + NODE_1,
        "cluster.ini: [cluster] metadata_voters: 0 is out of range (1..99)",
    ),
    (
        "[cluster]\nreassignment_throttle_bytes_per_s = -1\n" + NODE_1,
        "cluster.ini: [cluster] reassignment_throttle_bytes_per_s: -1 is out of range (0..1099511627776)",
    ),
    (
        "[cluster]\nlmdb_map_size_mb = 1.5\n" + NODE_1,
        "cluster.ini: [cluster] lmdb_map_size_mb: '1.5' is not an integer",
    ),
    (
        "[cluster]\nfsync = sometimes\n" + NODE_1,
        "cluster.ini: [cluster] fsync: 'sometimes' is not one of always | never",
    ),
    ("[cluster]\ndata_dir =\n" + NODE_1, "cluster.ini: [cluster] data_dir: is empty"),
    (
        "[cluster]\nlog_format = xml\n" + NODE_1,
        "cluster.ini: [cluster] log_format: 'xml' is not one of text | json",
    ),
    (
        "[cluster]\nbatch_format = arrows\n" + NODE_1,
        "cluster.ini: [cluster] batch_format: 'arrows' is not one of columns | rows",
    ),
    (
        "[cluster]\nmetrics_per_partition = maybe\n" + NODE_1,
        "cluster.ini: [cluster] metrics_per_partition: 'maybe' is not true or false",
    ),
    (NODE_1 + "http_port = web\n", "cluster.ini: [node.1] http_port: 'web' is not an integer"),
    (NODE_1 + "http_port = 70000\n", "cluster.ini: [node.1] http_port: 70000 is out of range (1..65535)"),
    (
        NODE_1 + "http_port = 9192\n",
        "cluster.ini: [node.1] http_port: 127.0.0.1:9192 is already used by [node.1] client_port",
    ),
    (
        "[nodes.1]\nhost = x\n",
        "cluster.ini: [nodes.1]: unknown section (expected [cluster] or [node.<id>])",
    ),
    (
        "[DEFAULT]\nfsync = never\n" + NODE_1,
        "cluster.ini: [DEFAULT]: unknown section (expected [cluster] or [node.<id>])",
    ),
    (
        NODE_1.replace("node.1", "node.0"),
        "cluster.ini: [node.0]: node id must be a positive integer, as in [node.1]",
    ),
    (
        NODE_1.replace("node.1", "node.01"),
        "cluster.ini: [node.01]: node id must be a positive integer, as in [node.1]",
    ),
    (
        NODE_1.replace("node.1", "node.one"),
        "cluster.ini: [node.one]: node id must be a positive integer, as in [node.1]",
    ),
    ("[cluster]\npartitions = 3\n", "cluster.ini: no [node.<id>] section: a cluster needs at least one node"),
    (
        NODE_1 + "[node.2]\nhost = 127.0.0.1\nclient_port = 9193\nraft_port = 9194\n",
        "cluster.ini: [node.2] client_port: 127.0.0.1:9193 is already used by [node.1] raft_port",
    ),
    (
        NODE_1.replace("9193", "9192"),
        "cluster.ini: [node.1] raft_port: 127.0.0.1:9192 is already used by [node.1] client_port",
    ),
    (
        "[cluster]\nheartbeat_interval_ms = 500\n" + NODE_1,
        "cluster.ini: [cluster] election_timeout_min_ms: 1500 must be more than 3 x heartbeat_interval_ms "
        "(500), or followers start elections between heartbeats",
    ),
    (
        "[cluster]\nelection_timeout_max_ms = 1500\n" + NODE_1,
        "cluster.ini: [cluster] election_timeout_max_ms: 1500 must be more than election_timeout_min_ms "
        "(1500) so that nodes' timeouts differ",
    ),
    (
        "[cluster]\ntick_interval_ms = 401\n" + NODE_1,
        "cluster.ini: [cluster] tick_interval_ms: 401 must be at most heartbeat_interval_ms (400): "
        "Raft time is counted in ticks",
    ),
    (
        "[cluster]\nmax_record_bytes = 2048\nmax_frame_bytes = 2048\n" + NODE_1,
        "cluster.ini: [cluster] max_record_bytes: 2048 must be less than max_frame_bytes (2048): "
        "a record travels inside a frame",
    ),
    (
        THREE_NODES.replace("rack = b\n", ""),
        "cluster.ini: [node.2] rack: missing, but [node.1] has one (give every node a rack, or none)",
    ),
    (
        "[cluster]\nlog_retention_ms = 1 week\n" + NODE_1,
        "cluster.ini: [cluster] log_retention_ms: '1 week' is not an integer (the default of topic config "
        "retention.ms)",
    ),
    (
        "[cluster]\nlog_cleanup_policy = shred\n" + NODE_1,
        "cluster.ini: [cluster] log_cleanup_policy: 'shred' is not one of compact, delete (the default of "
        "topic config cleanup.policy)",
    ),
    (
        "[cluster]\nlog_message_timestamp_type = logappendtime\n" + NODE_1,
        "cluster.ini: [cluster] log_message_timestamp_type: 'logappendtime' is not one of CreateTime | "
        "LogAppendTime (the default of topic config message.timestamp.type)",
    ),
    (
        "[cluster]\nlog_cleaner_min_cleanable_ratio = 2\n" + NODE_1,
        "cluster.ini: [cluster] log_cleaner_min_cleanable_ratio: 2.0 is out of range (0.0..1.0) (the default "
        "of topic config min.cleanable.dirty.ratio)",
    ),
    (
        "[cluster]\nlog_cleaner_min_compaction_lag_ms = 10\nlog_cleaner_max_compaction_lag_ms = 5\n" + NODE_1,
        "cluster.ini: [cluster] log_cleaner_min_compaction_lag_ms: 10 is more than max.compaction.lag.ms (5)",
    ),
    (
        "[cluster]\nlog_retention_hours = 5\n" + NODE_1,
        "cluster.ini: [cluster] log_retention_hours: unknown key (did you mean 'log_retention_ms'?)",
    ),
    (NODE_1 + "host = 127.0.0.2\n", "cluster.ini: [node.1] host: key appears twice (line 5)"),
    (NODE_1 + NODE_1, "cluster.ini: [node.1]: section appears twice (line 5)"),
    ("host = x\n" + NODE_1, "cluster.ini: line 1: 'host = x' is before any [section]"),
    (NODE_1 + "just words\n", "cluster.ini: line 5: cannot parse 'just words' (expected key = value)"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[m.split(": ", 1)[1][:50] for _, m in BAD])
def test_bad_file_names_file_section_and_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert info.value.message == message


def test_election_timeout_just_above_three_heartbeats_is_accepted() -> None:
    config = parse("[cluster]\nheartbeat_interval_ms = 500\nelection_timeout_min_ms = 1501\n" + NODE_1)
    assert config.election_timeout_min_ms == 1501


def test_inline_comments_and_case_of_fsync() -> None:
    config = parse("[cluster]\nfsync = NEVER   ; shouting\npartitions = 7   # hash comment\n" + NODE_1)
    assert (config.fsync, config.partitions) == ("never", 7)


def test_error_names_the_path_given(tmp_path: Path) -> None:
    ini = tmp_path / "c.ini"
    ini.write_text(NODE_1.replace("9192", "x"))
    with pytest.raises(ConfigError) as info:
        load_config(ini)
    assert info.value.message == f"{ini}: [node.1] client_port: 'x' is not an integer"


@pytest.mark.parametrize(("raw", "value"), [("true", True), ("off", False), ("0", False), ("Yes", True)])
def test_auto_create_topics_reads_a_boolean(raw: str, value: bool) -> None:
    text = DEFAULT_CONFIG_TEXT.replace("fsync = always", f"fsync = always\nauto_create_topics = {raw}")
    assert parse_config(text).auto_create_topics is value
    assert parse_config(DEFAULT_CONFIG_TEXT).auto_create_topics is True  # Kafka's default


def test_auto_create_topics_refuses_what_is_not_a_boolean() -> None:
    text = DEFAULT_CONFIG_TEXT.replace("fsync = always", "fsync = always\nauto_create_topics = maybe")
    with pytest.raises(ConfigError, match=r"\[cluster\] auto_create_topics: 'maybe' is not true or false"):
        parse_config(text)
