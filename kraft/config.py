"""cluster.ini → frozen, validated :class:`ClusterConfig`.

This module owns the file format: which sections and keys exist, their defaults, their ranges and
how they relate. It reads text and returns values; it never opens sockets or creates directories.
Every problem raises :class:`kraft.errors.ConfigError` whose message names the file, the section
and the key (``cluster.ini: [node.2] client_port: 'abc' is not an integer``), because a typo that
passes silently turns into a cluster that misbehaves hours later.
"""

from __future__ import annotations

import ast
import configparser
import difflib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

from kraft import topic_config
from kraft.errors import ConfigError, InvalidConfig
from kraft.topic_config import ConfigValue

FsyncPolicy = Literal["always", "never"]
FSYNC_POLICIES: tuple[FsyncPolicy, ...] = ("always", "never")
LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
BatchFormat = Literal["columns", "rows"]
BATCH_FORMATS: tuple[BatchFormat, ...] = ("columns", "rows")
_BOOLEANS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}

DEFAULT_CONFIG_FILE = "cluster.ini"

#: The single-node cluster used when there is no ./cluster.ini; also the shipped cluster.ini.
DEFAULT_CONFIG_TEXT = """\
; kraft cluster configuration: one [cluster] section and one [node.<id>] section per node.
; Start this single node with `make run` (or `kraft node start --config cluster.ini`).

[cluster]
data_dir = ./data                 ; each node keeps data_dir/<node id>/ (relative to this file)
replication_factor = 1            ; default for new topics, capped at the number of nodes
partitions = 3                    ; default for new topics
fsync = always                    ; always | never
; auto_create_topics = true       ; a topic is created (with the defaults above) when a client first uses it
; console_read_only = false       ; true: the web console on http_port refuses every write action (403)
; fetch_from_follower = false     ; true: consumers read from an in-sync replica in their client.rack (KIP-392)
; acl_allow_if_no_acl = true      ; Kafka's allow.everyone.if.no.acl.found: a resource no ACL names is open

; Optional limits and timings, shown with their defaults:
; max_record_bytes = 1048576
; max_frame_bytes = 16777216
; max_connections = 1024
; max_in_flight_requests = 256   ; per connection; more get TOO_MANY_IN_FLIGHT at once
; max_connection_buffer_bytes = 67108864  ; answers a client has not read; beyond this it is cut off
; heartbeat_interval_ms = 400
; election_timeout_min_ms = 1500  ; must be more than 3 x heartbeat_interval_ms
; election_timeout_max_ms = 3000  ; must be more than election_timeout_min_ms
; tick_interval_ms = 100
; peer_timeout_ms = 5000
; lmdb_map_size_mb = 16384
; fetch_max_wait_ms_max = 30000   ; cap on how long one fetch may wait for data
; request_timeout_ms = 30000
; group_initial_rebalance_delay_ms = 300  ; a new group waits this long for co-starting members
; consumer_group_session_timeout_ms = 45000  ; KIP-848 groups: a member silent this long is removed
; consumer_group_heartbeat_interval_ms = 5000  ; KIP-848 groups: how often members are told to heartbeat
; log_retention_check_interval_ms = 30000  ; how often leaders look for records past retention
; log_cleaner_backoff_ms = 15000  ; how often leaders look for compaction work (also at each retention check)
; group_lag_refresh_ms = 10000  ; how often the group coordinator asks leaders for end offsets (group lag metrics)
; leader_balance_interval_ms = 5000  ; how often leaders hand partitions back to their preferred replica; 0 = never
; metadata_voters = 3            ; voters of the metadata group (odd); the other nodes follow it as learners
; metadata_voter_replace_ms = 5000  ; a metadata voter silent this long is replaced by a caught-up learner
; reassignment_throttle_bytes_per_s = 20000000  ; per node, to catching-up learners (moves, lost disks); 0 = off
; log_format = text               ; text | json (one JSON object per line: time, level, logger, message, fields)
; batch_format = columns           ; columns | rows: the record batches kraft's producers write (columns
;                                 ; once every node reads them, README "Record batch format")
; metrics_per_partition = true    ; false: /metrics leaves out per-partition series (clusters with many partitions)
; max_partitions_per_topic = 3000  ; a topic's partitions; more: INVALID_PARTITIONS at once
; max_partitions_per_node = 3000   ; partition replicas one node hosts; more: POLICY_VIOLATION at once
; max_fetch_sessions = 1000       ; Kafka fetch sessions (KIP-227) a node keeps; 0 = none (every fetch is full)

; Defaults of topic configs for topics that do not set their own (Kafka's broker names, with _):
; log_cleanup_policy = delete              ; cleanup.policy: delete | compact | compact,delete
; log_retention_ms = 604800000             ; retention.ms (7 days); -1 = forever
; log_retention_bytes = -1                 ; retention.bytes per partition; -1 = no limit
; log_cleaner_delete_retention_ms = 86400000  ; delete.retention.ms: tombstones kept this long
; log_cleaner_min_compaction_lag_ms = 0    ; min.compaction.lag.ms
; log_cleaner_max_compaction_lag_ms = 9223372036854775807  ; max.compaction.lag.ms
; log_cleaner_min_cleanable_ratio = 0.5    ; min.cleanable.dirty.ratio
; log_message_timestamp_type = CreateTime  ; message.timestamp.type: CreateTime | LogAppendTime
; (max.message.bytes defaults to max_record_bytes above)

[node.1]
host = 127.0.0.1
client_port = 9192                ; native protocol
raft_port = 9193                  ; all Raft traffic of this node
kafka_port = 9092                 ; Kafka wire protocol (kafka-python, confluent-kafka, kcat); optional
http_port = 9194                  ; /metrics (Prometheus) and /health/live, /health/ready; optional
; rack = dc1                      ; optional; give every node a rack or none
"""

_CLUSTER = "cluster"
_NODE_PREFIX = "node."
_NODE_ID = re.compile(r"[1-9][0-9]*")
_INTEGER = re.compile(r"-?[0-9]+(_[0-9]+)*")  # what int() accepts, minus "+" and non-ASCII digits
_PORT_RANGE = (1, 65535)
# configparser copies keys of its default section into every section; kraft has no such section,
# so the name is one nobody can type and a literal [DEFAULT] is just another unknown section.
_NO_DEFAULT_SECTION = "\x00none"


@dataclass(frozen=True)
class NodeConfig:
    """One ``[node.<id>]`` section: where a node listens."""

    id: int
    host: str
    client_port: int
    raft_port: int
    rack: str | None = None
    kafka_port: int | None = None  # the Kafka-protocol listener; None: this node does not speak Kafka
    http_port: int | None = None  # metrics and health (kraft.node.http); None: no HTTP listener

    @property
    def http_address(self) -> str | None:
        return None if self.http_port is None else f"{self.host}:{self.http_port}"

    @property
    def client_address(self) -> str:
        return f"{self.host}:{self.client_port}"

    @property
    def raft_address(self) -> str:
        return f"{self.host}:{self.raft_port}"


@dataclass(frozen=True, kw_only=True)
class ClusterConfig:
    """The whole file. Field defaults are the defaults of the optional ``[cluster]`` keys."""

    path: Path | None  # absolute; None for the embedded default
    data_dir: Path  # absolute
    nodes: dict[int, NodeConfig] = field(hash=False)
    replication_factor: int = 3
    partitions: int = 3
    fsync: FsyncPolicy = "always"
    # Kafka's auto.create.topics.enable: a Metadata request that allows it, or a produce, naming a
    # topic that does not exist creates it with ``partitions`` and ``replication_factor``.
    auto_create_topics: bool = True
    console_read_only: bool = False  # the web console (kraft.console) refuses every write action (HTTP 403)
    # Kafka's replica.selector.class=RackAwareReplicaSelector (KIP-392): a leader answers a Fetch
    # (v11+) whose rack_id is another node's rack with that in-sync replica as its preferred read
    # replica, and followers serve such fetches up to what they have applied (committed).
    fetch_from_follower: bool = False
    # Kafka's allow.everyone.if.no.acl.found (kraft.authorizer): a resource no ACL binding covers is
    # open to every client; false closes it (then only ALLOW bindings open anything).
    acl_allow_if_no_acl: bool = True
    max_record_bytes: int = 1048576
    max_frame_bytes: int = 16777216
    max_connections: int = 1024
    max_in_flight_requests: int = 256
    max_connection_buffer_bytes: int = 67108864
    heartbeat_interval_ms: int = 400
    election_timeout_min_ms: int = 1500
    election_timeout_max_ms: int = 3000
    tick_interval_ms: int = 100
    peer_timeout_ms: int = 5000
    lmdb_map_size_mb: int = 16384
    fetch_max_wait_ms_max: int = 30000
    request_timeout_ms: int = 30000
    group_initial_rebalance_delay_ms: int = 300
    # KIP-848 (consumer protocol) groups, as Kafka's group.consumer.session.timeout.ms and
    # group.consumer.heartbeat.interval.ms: set by the coordinator, not by each member.
    consumer_group_session_timeout_ms: int = 45_000
    consumer_group_heartbeat_interval_ms: int = 5_000
    log_retention_check_interval_ms: int = 30000
    log_cleaner_backoff_ms: int = 15000  # Kafka's log.cleaner.backoff.ms: compaction looks this often
    leader_balance_interval_ms: int = 5000  # 0: leaders never hand partitions back on their own
    group_lag_refresh_ms: int = 10_000  # the coordinator's end offsets for group lag (kraft.node.group_lag)
    metadata_voters: int = 3  # the metadata group's voters (odd); a smaller cluster: all its nodes
    metadata_voter_replace_ms: int = 5000  # a metadata voter silent this long is replaced
    # Per node: entry and snapshot bytes its partition leaders send to learners (a move's new
    # replica, a lost disk's); voters are never throttled. 0: unthrottled. The default's measurement
    # is in BENCHMARKS.md (issue 13).
    reassignment_throttle_bytes_per_s: int = 20_000_000
    # What CreateTopics / CreatePartitions may ask for; beyond it they are refused at once, before
    # anything is proposed. Sized from BENCHMARKS.md on the 2-vCPU VM: with quiescent idle groups a
    # node hosting 3,000 replicas (RF 3 on 3 nodes) idles at 7-10 % of a core, is led everywhere
    # within seconds of the create and fails over in under 2 s, and `make overload` keeps metadata
    # requests answering at that size; beyond 3,000 nothing is measured. A topic may not exceed what
    # one node may hold.
    max_partitions_per_topic: int = 3000
    max_partitions_per_node: int = 3000
    # Kafka fetch sessions (KIP-227) one node's Kafka listener keeps, as Kafka's
    # max.incremental.fetch.session.cache.slots (default 1000); 0 turns them off.
    max_fetch_sessions: int = 1000
    # Topic config name -> the cluster-wide default the [cluster] section sets (log_retention_ms = ...
    # gives "retention.ms"); only keys the file sets. See ``topic_config_defaults``.
    log_defaults: Mapping[str, ConfigValue] = field(default_factory=dict, hash=False)
    log_format: LogFormat = "text"  # how a node writes its log lines (kraft.node.logs)
    # The layout of the record batches kraft's producers write (kraft.protocol.batch), columns only
    # once every node says it reads them (kraft.node.batch_format); "rows" keeps the older layout.
    batch_format: BatchFormat = "columns"
    metrics_per_partition: bool = True  # false: /metrics has no per-partition series (bounded cardinality)

    @property
    def source(self) -> str:
        """How error messages name this config."""
        return str(self.path) if self.path is not None else "default config"

    @property
    def node_ids(self) -> list[int]:
        return sorted(self.nodes)

    @property
    def lmdb_map_size_bytes(self) -> int:
        return self.lmdb_map_size_mb * 1024 * 1024

    def node(self, node_id: int) -> NodeConfig:
        """The node with this id; ConfigError (listing the ids there are) when there is none."""
        try:
            return self.nodes[node_id]
        except KeyError:
            ids = ", ".join(str(i) for i in self.node_ids)
            raise ConfigError(f"{self.source}: no [node.{node_id}] section (nodes: {ids})") from None

    def node_data_dir(self, node_id: int) -> Path:
        return self.data_dir / str(self.node(node_id).id)

    def bootstrap(self) -> str:
        """``host:port,...`` of every node's client port, in node id order."""
        return ",".join(self.nodes[i].client_address for i in self.node_ids)

    def http_addresses(self) -> dict[int, str]:
        """Node id -> ``host:port`` of its HTTP listener, for the nodes that have one."""
        return {i: address for i in self.node_ids if (address := self.nodes[i].http_address) is not None}

    def effective_replication_factor(self) -> int:
        """The default replication factor of new topics: a small cluster cannot hold more copies."""
        return min(self.replication_factor, len(self.nodes))

    def topic_config_defaults(self) -> dict[str, ConfigValue]:
        """Topic config name -> this cluster's default (what ``kraft.topic_config.resolve`` takes): the
        log_* keys the file sets, and max.message.bytes from max_record_bytes when that is not kraft's
        default (one limit, older than topic configs: the largest batch a node accepts)."""
        out = dict(self.log_defaults)
        if self.max_record_bytes != topic_config.MAX_MESSAGE_BYTES_DEFAULT:
            out["max.message.bytes"] = self.max_record_bytes
        return out


# (min, max) of every integer key of [cluster]; the bounds exist to catch typos (an extra zero),
# not to encode tuning advice.
_CLUSTER_INT_RANGES: dict[str, tuple[int, int]] = {
    "replication_factor": (1, 128),
    "partitions": (1, 10_000),
    "max_record_bytes": (1, 1 << 30),
    "max_frame_bytes": (1024, (1 << 32) - 1),  # the frame length prefix is a u32
    "max_in_flight_requests": (1, 65_536),
    "max_connection_buffer_bytes": (1 << 20, 1 << 32),
    "max_connections": (1, 1_000_000),
    "heartbeat_interval_ms": (1, 60_000),
    "election_timeout_min_ms": (1, 600_000),
    "election_timeout_max_ms": (1, 600_000),
    "tick_interval_ms": (1, 10_000),
    "peer_timeout_ms": (1, 600_000),
    "lmdb_map_size_mb": (1, 1 << 24),
    "fetch_max_wait_ms_max": (0, 600_000),
    "request_timeout_ms": (1, 3_600_000),
    "group_initial_rebalance_delay_ms": (0, 60_000),
    "consumer_group_session_timeout_ms": (1_000, 3_600_000),
    "consumer_group_heartbeat_interval_ms": (100, 600_000),
    "log_retention_check_interval_ms": (100, 3_600_000),
    "log_cleaner_backoff_ms": (100, 3_600_000),
    "leader_balance_interval_ms": (0, 86_400_000),
    "group_lag_refresh_ms": (100, 3_600_000),
    "metadata_voters": (1, 99),
    "metadata_voter_replace_ms": (100, 86_400_000),
    "reassignment_throttle_bytes_per_s": (0, 1 << 40),
    "max_partitions_per_topic": (1, 1_000_000),
    "max_partitions_per_node": (1, 10_000_000),
    "max_fetch_sessions": (0, 1_000_000),
}
_CLUSTER_BOOLS = ("auto_create_topics", "console_read_only", "fetch_from_follower", "acl_allow_if_no_acl")
_CLUSTER_KEYS = ("data_dir", "fsync", "log_format", "batch_format", "metrics_per_partition", *_CLUSTER_BOOLS,
                 *_CLUSTER_INT_RANGES, *topic_config.BY_CLUSTER_KEY)
_NODE_KEYS = ("host", "client_port", "raft_port", "kafka_port", "http_port", "rack")
_NODE_REQUIRED_KEYS = ("host", "client_port", "raft_port")


class _Source:
    """Builds the ``file: [section] key: problem`` messages."""

    def __init__(self, name: str) -> None:
        self.name = name

    def error(self, section: str | None, key: str | None, problem: str) -> ConfigError:
        where = self.name
        if section is not None:
            where += f": [{section}]"
        if key is not None:
            where += f" {key}"
        return ConfigError(f"{where}: {problem}", section=section, key=key)


def load_config(path: str | Path | None = None) -> ClusterConfig:
    """Read a cluster.ini. ``None`` → ./cluster.ini if it exists, else :data:`DEFAULT_CONFIG_TEXT`."""
    if path is None:
        if not Path(DEFAULT_CONFIG_FILE).is_file():
            return parse_config(DEFAULT_CONFIG_TEXT)
        path = DEFAULT_CONFIG_FILE
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_config(text, path)


def parse_config(text: str, path: str | Path | None = None) -> ClusterConfig:
    """Parse and validate cluster.ini ``text``; ``path`` names it in errors and anchors ``data_dir``."""
    src = _Source(str(path) if path is not None else "default config")
    parser = _read_ini(text, src)
    _check_sections(parser, src)
    base_dir = Path(path).absolute().parent if path is not None else Path.cwd()
    cluster = dict(parser[_CLUSTER]) if parser.has_section(_CLUSTER) else {}
    nodes = _parse_nodes(parser, src)
    config = ClusterConfig(
        path=Path(path).absolute() if path is not None else None,
        data_dir=_parse_data_dir(cluster, base_dir, src),
        nodes=nodes,
        fsync=_parse_fsync(cluster, src),
        log_format=_parse_log_format(cluster, src),
        batch_format=_parse_batch_format(cluster, src),
        metrics_per_partition=_parse_bool(cluster, "metrics_per_partition", True, src),
        log_defaults=_parse_log_defaults(cluster, src),
        auto_create_topics=_parse_bool(cluster, "auto_create_topics", True, src),
        console_read_only=_parse_bool(cluster, "console_read_only", False, src),
        fetch_from_follower=_parse_bool(cluster, "fetch_from_follower", False, src),
        acl_allow_if_no_acl=_parse_bool(cluster, "acl_allow_if_no_acl", True, src),
        **_parse_cluster_ints(cluster, src),
    )
    _check_cluster_relations(config, src)
    return config


def render_config(config: ClusterConfig) -> str:
    """cluster.ini text that parses back to ``config`` (every key written, data_dir absolute)."""
    lines = ["[cluster]", f"data_dir = {config.data_dir}", f"fsync = {config.fsync}",
             f"log_format = {config.log_format}", f"batch_format = {config.batch_format}",
             f"metrics_per_partition = {str(config.metrics_per_partition).lower()}"]
    lines += [f"{key} = {str(getattr(config, key)).lower()}" for key in _CLUSTER_BOOLS]
    lines += [f"{key} = {getattr(config, key)}" for key in _CLUSTER_INT_RANGES]
    lines += [f"{topic_config.BY_NAME[name].cluster_key} = {topic_config.format_value(value)}"
              for name, value in config.log_defaults.items()]
    for node_id in config.node_ids:
        node = config.nodes[node_id]
        lines += ["", f"[node.{node_id}]", f"host = {node.host}"]
        lines += [f"client_port = {node.client_port}", f"raft_port = {node.raft_port}"]
        if node.kafka_port is not None:
            lines.append(f"kafka_port = {node.kafka_port}")
        if node.http_port is not None:
            lines.append(f"http_port = {node.http_port}")
        if node.rack is not None:
            lines.append(f"rack = {node.rack}")
    return "\n".join(lines) + "\n"


def _read_ini(text: str, src: _Source) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(
        interpolation=None,  # a '%' in a path or rack name is just a character
        inline_comment_prefixes=(";", "#"),
        default_section=_NO_DEFAULT_SECTION,
        strict=True,  # a repeated section or key is an error, not "last one wins"
    )
    try:
        parser.read_string(text)
    except configparser.DuplicateSectionError as exc:
        raise src.error(exc.section, None, f"section appears twice (line {exc.lineno})") from None
    except configparser.DuplicateOptionError as exc:
        raise src.error(exc.section, exc.option, f"key appears twice (line {exc.lineno})") from None
    except configparser.MissingSectionHeaderError as exc:
        raise ConfigError(f"{src.name}: line {exc.lineno}: {exc.line.strip()!r} is before any [section]") from None
    except configparser.ParsingError as exc:
        lineno, line = exc.errors[0]
        line = _unrepr(line)
        raise ConfigError(f"{src.name}: line {lineno}: cannot parse {line.strip()!r} (expected key = value)") from None
    return parser


def _unrepr(line: str) -> str:
    """configparser keeps a bad line as its repr(); show the line as the user wrote it."""
    try:
        value = ast.literal_eval(line)
    except (ValueError, SyntaxError):
        return line
    return value if isinstance(value, str) else line


def _check_sections(parser: configparser.ConfigParser, src: _Source) -> None:
    for section in parser.sections():
        if section == _CLUSTER:
            _check_keys(parser[section], _CLUSTER_KEYS, src)
        elif section.startswith(_NODE_PREFIX):
            if not _NODE_ID.fullmatch(section.removeprefix(_NODE_PREFIX)):
                raise src.error(section, None, "node id must be a positive integer, as in [node.1]")
            _check_keys(parser[section], _NODE_KEYS, src)
        else:
            raise src.error(section, None, "unknown section (expected [cluster] or [node.<id>])")
    if not any(s.startswith(_NODE_PREFIX) for s in parser.sections()):
        raise ConfigError(f"{src.name}: no [node.<id>] section: a cluster needs at least one node")


def _check_keys(section: configparser.SectionProxy, known: tuple[str, ...], src: _Source) -> None:
    for key in section:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
            raise src.error(section.name, key, f"unknown key ({hint})")


def _parse_cluster_ints(cluster: Mapping[str, str], src: _Source) -> dict[str, int]:
    return {
        key: _parse_int(cluster[key], _CLUSTER, key, bounds, src)
        for key, bounds in _CLUSTER_INT_RANGES.items()
        if key in cluster
    }


def _parse_bool(cluster: Mapping[str, str], key: str, default: bool, src: _Source) -> bool:
    if key not in cluster:
        return default
    value = _BOOLEANS.get(cluster[key].strip().lower())
    if value is None:
        raise src.error(_CLUSTER, key, f"{cluster[key]!r} is not true or false")
    return value


def _parse_log_defaults(cluster: Mapping[str, str], src: _Source) -> dict[str, ConfigValue]:
    """The topic-config defaults the file sets, checked by the same table as a topic's own configs."""
    out: dict[str, ConfigValue] = {}
    for key, spec in topic_config.BY_CLUSTER_KEY.items():
        if key in cluster:
            try:
                out[spec.name] = topic_config.parse_value(spec.name, cluster[key])
            except InvalidConfig as exc:
                # "retention.ms: 'x' is not an integer" -> "'x' is not an integer (topic config retention.ms)"
                reason = exc.message.split(": ", 1)[-1]
                raise src.error(_CLUSTER, key, f"{reason} (the default of topic config {spec.name})") from None
    return out


def _parse_int(raw: str, section: str, key: str, bounds: tuple[int, int], src: _Source) -> int:
    if not _INTEGER.fullmatch(raw.strip()):
        raise src.error(section, key, f"{raw!r} is not an integer")
    value = int(raw)
    low, high = bounds
    if not low <= value <= high:
        raise src.error(section, key, f"{value} is out of range ({low}..{high})")
    return value


def _parse_fsync(cluster: Mapping[str, str], src: _Source) -> FsyncPolicy:
    raw = cluster.get("fsync", "always")
    if raw.lower() not in FSYNC_POLICIES:
        raise src.error(_CLUSTER, "fsync", f"{raw!r} is not one of {' | '.join(FSYNC_POLICIES)}")
    return cast(FsyncPolicy, raw.lower())


def _parse_batch_format(cluster: Mapping[str, str], src: _Source) -> BatchFormat:
    raw = cluster.get("batch_format", "columns")
    if raw.lower() not in BATCH_FORMATS:
        raise src.error(_CLUSTER, "batch_format", f"{raw!r} is not one of {' | '.join(BATCH_FORMATS)}")
    return cast(BatchFormat, raw.lower())


def _parse_log_format(cluster: Mapping[str, str], src: _Source) -> LogFormat:
    raw = cluster.get("log_format", "text")
    if raw.lower() not in LOG_FORMATS:
        raise src.error(_CLUSTER, "log_format", f"{raw!r} is not one of {' | '.join(LOG_FORMATS)}")
    return cast(LogFormat, raw.lower())


def _parse_data_dir(cluster: Mapping[str, str], base_dir: Path, src: _Source) -> Path:
    raw = cluster.get("data_dir", "./data")
    if not raw:
        raise src.error(_CLUSTER, "data_dir", "is empty")
    # abspath, not resolve(): normalise '..' without swapping in symlink targets the user never wrote
    return Path(os.path.abspath(base_dir / Path(raw).expanduser()))


def _parse_nodes(parser: configparser.ConfigParser, src: _Source) -> dict[int, NodeConfig]:
    nodes: dict[int, NodeConfig] = {}
    for section in parser.sections():
        if section.startswith(_NODE_PREFIX):
            node_id = int(section.removeprefix(_NODE_PREFIX))
            nodes[node_id] = _parse_node(node_id, parser[section], src)
    _check_ports_unique(nodes, src)
    _check_racks(nodes, src)
    return dict(sorted(nodes.items()))


def _parse_node(node_id: int, section: configparser.SectionProxy, src: _Source) -> NodeConfig:
    for key in _NODE_REQUIRED_KEYS:
        if key not in section:
            raise src.error(section.name, key, "missing (required)")
    host = section["host"]
    if not host or any(c.isspace() for c in host):
        raise src.error(section.name, "host", f"{host!r} is not a host name or address")
    rack = section.get("rack")
    if rack is not None and not rack:
        raise src.error(section.name, "rack", "is empty (leave the key out for no rack)")
    return NodeConfig(
        id=node_id,
        host=host,
        client_port=_parse_int(section["client_port"], section.name, "client_port", _PORT_RANGE, src),
        raft_port=_parse_int(section["raft_port"], section.name, "raft_port", _PORT_RANGE, src),
        rack=rack,
        kafka_port=_optional_port(section, "kafka_port", src),
        http_port=_optional_port(section, "http_port", src),
    )


def _optional_port(section: configparser.SectionProxy, key: str, src: _Source) -> int | None:
    return _parse_int(section[key], section.name, key, _PORT_RANGE, src) if key in section else None


def _node_ports(nodes: Mapping[int, NodeConfig]) -> Iterator[tuple[int, str, tuple[str, int]]]:
    for node_id, node in sorted(nodes.items()):
        yield node_id, "client_port", (node.host, node.client_port)
        yield node_id, "raft_port", (node.host, node.raft_port)
        if node.kafka_port is not None:
            yield node_id, "kafka_port", (node.host, node.kafka_port)
        if node.http_port is not None:
            yield node_id, "http_port", (node.host, node.http_port)


def _check_ports_unique(nodes: Mapping[int, NodeConfig], src: _Source) -> None:
    first_use: dict[tuple[str, int], str] = {}
    for node_id, key, address in _node_ports(nodes):
        where = f"[node.{node_id}] {key}"
        if address in first_use:
            host, port = address
            raise src.error(f"node.{node_id}", key, f"{host}:{port} is already used by {first_use[address]}")
        first_use[address] = where


def _check_racks(nodes: Mapping[int, NodeConfig], src: _Source) -> None:
    """Racks for some nodes but not all is almost always a forgotten line (Kafka refuses it too)."""
    with_rack = [n.id for n in nodes.values() if n.rack is not None]
    if not with_rack or len(with_rack) == len(nodes):
        return
    missing = min(i for i in nodes if nodes[i].rack is None)
    raise src.error(
        f"node.{missing}",
        "rack",
        f"missing, but [node.{with_rack[0]}] has one (give every node a rack, or none)",
    )


def _check_cluster_relations(config: ClusterConfig, src: _Source) -> None:
    """Keys that are valid alone but not together; the message names the key to change."""
    if config.election_timeout_min_ms <= 3 * config.heartbeat_interval_ms:
        raise src.error(
            _CLUSTER,
            "election_timeout_min_ms",
            f"{config.election_timeout_min_ms} must be more than 3 x heartbeat_interval_ms "
            f"({config.heartbeat_interval_ms}), or followers start elections between heartbeats",
        )
    if config.election_timeout_max_ms <= config.election_timeout_min_ms:
        raise src.error(
            _CLUSTER,
            "election_timeout_max_ms",
            f"{config.election_timeout_max_ms} must be more than election_timeout_min_ms "
            f"({config.election_timeout_min_ms}) so that nodes' timeouts differ",
        )
    if config.metadata_voters % 2 == 0:
        raise src.error(
            _CLUSTER,
            "metadata_voters",
            f"{config.metadata_voters} must be odd (3 or 5): an even number of voters tolerates no more "
            "failures than the odd number below it",
        )
    if config.tick_interval_ms > config.heartbeat_interval_ms:
        raise src.error(
            _CLUSTER,
            "tick_interval_ms",
            f"{config.tick_interval_ms} must be at most heartbeat_interval_ms "
            f"({config.heartbeat_interval_ms}): Raft time is counted in ticks",
        )
    try:
        resolved = topic_config.resolve({}, config.topic_config_defaults())
        topic_config.check_effective(resolved, max_record_bytes=config.max_record_bytes)
    except InvalidConfig as exc:
        name = str(exc.details.get("key", ""))
        key = topic_config.BY_NAME[name].cluster_key if name in topic_config.BY_NAME else None
        raise src.error(_CLUSTER, key, exc.message.split(": ", 1)[-1]) from None
    if config.max_record_bytes >= config.max_frame_bytes:
        raise src.error(
            _CLUSTER,
            "max_record_bytes",
            f"{config.max_record_bytes} must be less than max_frame_bytes ({config.max_frame_bytes}): "
            "a record travels inside a frame",
        )
