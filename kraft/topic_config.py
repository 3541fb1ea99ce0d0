"""Topic configs: one table of Kafka's names, types, units, defaults and rules, and what follows from it.

Owns: ``CONFIGS`` (every topic config kraft accepts: Kafka's name and type, Kafka's built-in default,
the ``[cluster]`` key of cluster.ini that sets the cluster-wide default, Kafka's broker config of the
same meaning, and the range or choices), turning a raw value (a Kafka client's string, a Python
value, a cluster.ini text) into its canonical typed value, the incremental changes of Kafka's
IncrementalAlterConfigs, and resolving a topic's effective configs, each with its source: Kafka's
built-in default, cluster.ini, or the topic itself.
Must not: read files or clocks, know a wire shape, or touch storage. It is pure: the proposer
validates with it before a command reaches the metadata group; the state machine stores what it is
given; a node resolves when it answers (cluster-wide defaults are per-node config, never replicated).

Every refusal is ``InvalidConfig`` (Kafka's INVALID_CONFIG, 40) naming each bad key and the reason;
a set of configs is checked whole, so nothing is half-applied.
"""

from __future__ import annotations

import difflib
import enum
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kraft.errors import InvalidConfig, InvalidRequest

ConfigValue = int | float | str
"""A config's canonical value: an int (Kafka's INT and LONG), a float (DOUBLE) or a str (STRING and
LIST, a list as its comma-joined canonical text)."""

INT_MAX = (1 << 31) - 1
LONG_MAX = (1 << 63) - 1
_INTEGER = re.compile(r"[+-]?[0-9]+")
_INTEGER_DIGITS_MAX = 19  # a long's digits: more is out of any range here, and not parsed
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


class Kind(enum.Enum):
    """Kafka's ConfigDef types used by topic configs, with Kafka's DescribeConfigs ``config_type``."""

    STRING = 2
    INT = 3
    LONG = 5
    DOUBLE = 6
    LIST = 7


class Source(enum.StrEnum):
    """Where a config's value comes from."""

    DEFAULT = "default"  # Kafka's built-in default (kraft's own for max.message.bytes)
    CLUSTER = "cluster"  # the [cluster] section of cluster.ini
    DYNAMIC_DEFAULT = "dynamic_default"  # the cluster-wide dynamic broker config (kraft.broker_config)
    DYNAMIC_BROKER = "dynamic_broker"  # this node's own dynamic broker config
    TOPIC = "topic"  # set on the topic (create or alter)


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One row of the table. ``cluster_key`` is the ``[cluster]`` key of cluster.ini (None: see the
    row's note); ``broker_name`` is Kafka's broker config of the same meaning (reported as the
    synonym in DescribeConfigs). ``low``/``high`` bound numbers, ``choices`` strings and list items."""

    name: str
    kind: Kind
    default: ConfigValue
    cluster_key: str | None
    broker_name: str
    doc: str
    low: int | float | None = None
    high: int | float | None = None
    choices: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None  # a STRING without choices: the text it must match


# kraft's own limit for max.message.bytes (Kafka's is 1048588): it is the default of cluster.ini's
# max_record_bytes, the largest batch a node accepts, which is what max.message.bytes means.
MAX_MESSAGE_BYTES_DEFAULT = 1048576
WEEK_MS = 7 * 24 * 3600 * 1000
DAY_MS = 24 * 3600 * 1000

CONFIGS: tuple[ConfigKey, ...] = (
    ConfigKey("cleanup.policy", Kind.LIST, "delete", "log_cleanup_policy", "log.cleanup.policy",
              "delete: remove old batches by retention.ms / retention.bytes; compact: keep the latest record "
              "per key; or both", choices=("compact", "delete")),
    ConfigKey("retention.ms", Kind.LONG, WEEK_MS, "log_retention_ms", "log.retention.ms",
              "how long a batch is kept (ms); -1 = forever", low=-1, high=LONG_MAX),
    ConfigKey("retention.bytes", Kind.LONG, -1, "log_retention_bytes", "log.retention.bytes",
              "how many bytes a partition keeps before its oldest batches go; -1 = no limit", low=-1, high=LONG_MAX),
    ConfigKey("delete.retention.ms", Kind.LONG, DAY_MS, "log_cleaner_delete_retention_ms",
              "log.cleaner.delete.retention.ms", "how long a tombstone stays in a compacted log (ms)",
              low=0, high=LONG_MAX),
    ConfigKey("min.compaction.lag.ms", Kind.LONG, 0, "log_cleaner_min_compaction_lag_ms",
              "log.cleaner.min.compaction.lag.ms", "a record younger than this is never compacted (ms)",
              low=0, high=LONG_MAX),
    ConfigKey("max.compaction.lag.ms", Kind.LONG, LONG_MAX, "log_cleaner_max_compaction_lag_ms",
              "log.cleaner.max.compaction.lag.ms", "a record older than this is compacted soon (ms)",
              low=1, high=LONG_MAX),
    ConfigKey("min.cleanable.dirty.ratio", Kind.DOUBLE, 0.5, "log_cleaner_min_cleanable_ratio",
              "log.cleaner.min.cleanable.ratio", "share of a log not yet compacted before compaction runs",
              low=0.0, high=1.0),
    # Its cluster-wide value is [cluster] max_record_bytes (a node's own limit, older than this table):
    # ``ClusterConfig.topic_config_defaults`` puts it in. A topic may lower it, not raise it above that.
    ConfigKey("max.message.bytes", Kind.INT, MAX_MESSAGE_BYTES_DEFAULT, None, "message.max.bytes",
              "the largest record batch a producer may append to the topic (bytes)", low=0, high=INT_MAX),
    ConfigKey("message.timestamp.type", Kind.STRING, "CreateTime", "log_message_timestamp_type",
              "log.message.timestamp.type", "CreateTime: the producer's timestamps; LogAppendTime: the "
              "leader stamps each batch with its clock when it appends it", choices=("CreateTime", "LogAppendTime")),
    # Accepted and stored only (kraft has no segments): Kafka Streams sets segment.bytes on its
    # repartition topics, and applications often set segment.ms with compaction. Kafka's lower bound
    # (14, a v0 record's overhead), since nothing in kraft's log layout reads it: a batch is one row
    # whatever its size, and retention and compaction work on whole batches (librdkafka's 0077 sets 10000).
    ConfigKey("segment.bytes", Kind.INT, 1 << 30, "log_segment_bytes", "log.segment.bytes",
              "Kafka's segment file size (bytes); stored, kraft has no segments", low=14, high=INT_MAX),
    ConfigKey("segment.ms", Kind.LONG, WEEK_MS, "log_roll_ms", "log.roll.ms",
              "Kafka's segment roll time (ms); stored, kraft has no segments", low=1, high=LONG_MAX),
    # Stored only: Kafka Streams' docs recommend topic.min.insync.replicas for its internal topics.
    # kraft acknowledges acks=all writes at a Raft majority, which is stronger whenever RF >= 2 x this - 1.
    ConfigKey("min.insync.replicas", Kind.INT, 1, "min_insync_replicas", "min.insync.replicas",
              "Kafka's minimum in-sync replicas for acks=all; stored, kraft commits at a Raft majority",
              low=1, high=INT_MAX),
    # Stored only: kraft's durability is cluster.ini's fsync policy (always: every acknowledged batch
    # is on disk first), not a flush interval (librdkafka's 0081 alters flush.ms).
    ConfigKey("flush.ms", Kind.LONG, LONG_MAX, "log_flush_interval_ms", "log.flush.interval.ms",
              "Kafka's time between forced log flushes (ms); stored, kraft follows cluster.ini's fsync",
              low=0, high=LONG_MAX),
    ConfigKey("flush.messages", Kind.LONG, LONG_MAX, "log_flush_interval_messages", "log.flush.interval.messages",
              "Kafka's records between forced log flushes; stored, kraft follows cluster.ini's fsync",
              low=1, high=LONG_MAX),
    # Stored only: Kafka waits this long before deleting a segment file it dropped; kraft deletes
    # trimmed or compacted batches in the same replicated step that drops them (librdkafka's 0077 sets it).
    ConfigKey("file.delete.delay.ms", Kind.LONG, 60000, "log_segment_delete_delay_ms", "log.segment.delete.delay.ms",
              "Kafka's delay before a dropped segment file is deleted (ms); stored, kraft deletes at once",
              low=0, high=LONG_MAX),
    # Kafka recompresses a batch whose codec is not the topic's; kraft stores every batch as its
    # producer sent it, which is Kafka's "producer": the other values are stored and described only.
    ConfigKey("compression.type", Kind.STRING, "producer", "compression_type", "compression.type",
              "the codec of the topic's batches; stored, kraft keeps each batch as its producer compressed it "
              "(Kafka's producer)", choices=("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")),
    # Kafka 3.x accepts and ignores it (KIP-724: the message format is always v2 from 3.0); so does
    # kraft, which writes v2 batches only. A version as Kafka writes them: 0.10.0, 0.10.0.0, 2.8-IV1.
    ConfigKey("message.format.version", Kind.STRING, "3.0-IV1", None, "log.message.format.version",
              "ignored (KIP-724): every batch is format v2", pattern=re.compile(r"[0-9]+(\.[0-9]+){1,3}(-IV[0-9]+)?")),
)

BY_NAME: Mapping[str, ConfigKey] = {c.name: c for c in CONFIGS}
BY_CLUSTER_KEY: Mapping[str, ConfigKey] = {c.cluster_key: c for c in CONFIGS if c.cluster_key is not None}


# --- values -----------------------------------------------------------------------------------------


class _Bad(Exception):
    """One key's problem, gathered so that one InvalidConfig can name every bad key."""


def _unit(key: ConfigKey) -> str:
    if key.name.endswith(".ms"):
        return " ms"
    if key.name.endswith(".bytes"):
        return " bytes"
    return ""


def _parse_integer(raw: object) -> int:
    if isinstance(raw, bool):
        raise _Bad(f"{raw!r} is not an integer")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and _INTEGER.fullmatch(raw.strip()):
        text = raw.strip()
        digits = text.lstrip("+-").lstrip("0") or "0"
        if len(digits) > _INTEGER_DIGITS_MAX:  # Python refuses int() of over 4300 digits (a ValueError)
            raise _Bad(f"{text[:24]}... ({len(digits)} digits) is out of range")
        return int(("-" if text.startswith("-") else "") + digits)  # leading zeros count in int()'s limit
    raise _Bad(f"{raw!r} is not an integer")


def _parse_double(raw: object) -> float:
    if isinstance(raw, bool):
        raise _Bad(f"{raw!r} is not a number")
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str) and _NUMBER.fullmatch(raw.strip()):
        value = float(raw.strip())
    else:
        raise _Bad(f"{raw!r} is not a number")
    if not math.isfinite(value):
        raise _Bad(f"{raw!r} is not a finite number")
    return value


def _check_range(key: ConfigKey, value: int | float) -> None:
    low = key.low if key.low is not None else -LONG_MAX - 1
    high = key.high if key.high is not None else LONG_MAX
    if not low <= value <= high:
        raise _Bad(f"{value} is out of range ({format_value(low)}..{format_value(high)}{_unit(key)})")


def _parse_list(key: ConfigKey, raw: object) -> str:
    if not isinstance(raw, str):
        raise _Bad(f"{raw!r} is not a comma-separated list")
    items = [item.strip() for item in raw.split(",")]
    if not any(items) or not all(items):
        raise _Bad(f"{raw!r} has an empty item (expected a comma-separated list of {', '.join(key.choices)})")
    for item in items:
        if item not in key.choices:
            raise _Bad(f"{item!r} is not one of {', '.join(key.choices)}")
    if len(set(items)) != len(items):
        raise _Bad(f"{raw!r} names an item twice")
    # Canonical order (the table's): "delete,compact" and "compact,delete" are one policy.
    return ",".join(c for c in key.choices if c in items)


def _parse(key: ConfigKey, raw: object) -> ConfigValue:
    if raw is None:
        raise _Bad("has no value")
    if key.kind in (Kind.INT, Kind.LONG):
        integer = _parse_integer(raw)
        _check_range(key, integer)
        return integer
    if key.kind is Kind.DOUBLE:
        number = _parse_double(raw)
        _check_range(key, number)
        return number
    if key.kind is Kind.LIST:
        return _parse_list(key, raw)
    if key.pattern is not None:
        if not isinstance(raw, str) or not key.pattern.fullmatch(raw.strip()):
            raise _Bad(f"{raw!r} is not a Kafka version (such as 0.10.0 or 3.0-IV1)")
        return raw.strip()
    if not isinstance(raw, str) or raw not in key.choices:
        raise _Bad(f"{raw!r} is not one of {' | '.join(key.choices)}")
    return raw


def parse_value(name: str, raw: object) -> ConfigValue:
    """``raw`` as ``name``'s canonical value; InvalidConfig naming the key and the reason."""
    key = BY_NAME.get(name)
    if key is None:
        raise InvalidConfig(f"{name}: {_unknown(name)}", key=name)
    try:
        return _parse(key, raw)
    except _Bad as e:
        raise InvalidConfig(f"{name}: {e}", key=name) from None


def parse_key(key: ConfigKey, raw: object) -> ConfigValue:
    """``raw`` as ``key``'s canonical value (a row of another table of the same shape:
    ``kraft.broker_config``'s); InvalidConfig naming the key and the reason."""
    try:
        return _parse(key, raw)
    except _Bad as e:
        raise InvalidConfig(f"{key.name}: {e}", key=key.name) from None


def _unknown(name: str) -> str:
    close = difflib.get_close_matches(name, list(BY_NAME), n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(BY_NAME))}"
    return f"unknown topic config ({hint})"


def validate_configs(configs: Mapping[str, object]) -> dict[str, ConfigValue]:
    """Every value of ``configs`` in canonical form, or one InvalidConfig naming each bad key and why
    (so a request is refused whole, never applied in part)."""
    out: dict[str, ConfigValue] = {}
    problems: list[str] = []
    for name in sorted(configs):
        key = BY_NAME.get(name)
        if key is None:
            problems.append(f"{name}: {_unknown(name)}")
            continue
        try:
            out[name] = _parse(key, configs[name])
        except _Bad as e:
            problems.append(f"{name}: {e}")
    if problems:
        raise InvalidConfig("; ".join(problems), key=problems[0].split(":", 1)[0])
    return out


def format_value(value: ConfigValue) -> str:
    """A value as Kafka writes it (DescribeConfigs answers, cluster.ini): 0.5, 604800000, compact,delete."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return f"{value:.1f}"  # Java's Double.toString: 1.0, not 1
    return str(value)


# --- effective configs ------------------------------------------------------------------------------


# The levels that set a topic config's default on a node, the one in effect first (this node's
# dynamic broker config, the cluster-wide one, cluster.ini's), without Kafka's built-in default.
DefaultLevels = tuple[tuple[Source, ConfigValue], ...]


@dataclass(frozen=True, slots=True)
class ResolvedConfig:
    """One config of a topic: its own value (``topic_value``) over the node's default for topics
    (``cluster_value``: a dynamic broker config's, else cluster.ini's) over Kafka's built-in default
    (``key.default``); ``levels`` says where the node's default comes from, when known."""

    key: ConfigKey
    topic_value: ConfigValue | None = None
    cluster_value: ConfigValue | None = None
    levels: DefaultLevels = ()

    @property
    def name(self) -> str:
        return self.key.name

    @property
    def value(self) -> ConfigValue:
        if self.topic_value is not None:
            return self.topic_value
        return self.default

    @property
    def source(self) -> Source:
        if self.topic_value is not None:
            return Source.TOPIC
        return self.default_source

    @property
    def default(self) -> ConfigValue:
        """The value without the topic's own: cluster.ini's, else Kafka's built-in default."""
        return self.cluster_value if self.cluster_value is not None else self.key.default

    @property
    def default_source(self) -> Source:
        if self.cluster_value is None:
            return Source.DEFAULT
        return self.levels[0][0] if self.levels else Source.CLUSTER


def _stored(configs: Mapping[str, object]) -> dict[str, ConfigValue]:
    """The known, valid entries of a topic's stored configs. Topics created before kraft validated
    configs may hold others (any name a Kafka client sent): they are kept in the metadata, not used."""
    out: dict[str, ConfigValue] = {}
    for name, raw in configs.items():
        key = BY_NAME.get(name)
        if key is not None:
            try:
                out[name] = _parse(key, raw)
            except _Bad:
                pass
    return out


def resolve(topic_configs: Mapping[str, object],
            cluster_defaults: Mapping[str, ConfigValue]) -> dict[str, ResolvedConfig]:
    """Every config of a topic, in table order: ``topic_configs`` (what the metadata holds for it)
    over ``cluster_defaults`` (``ClusterConfig.topic_config_defaults()``) over Kafka's defaults."""
    own = _stored(topic_configs)
    return {k.name: ResolvedConfig(k, own.get(k.name), cluster_defaults.get(k.name)) for k in CONFIGS}


def resolve_levels(topic_configs: Mapping[str, object],
                   levels: Mapping[str, DefaultLevels]) -> dict[str, ResolvedConfig]:
    """``resolve`` with each default's levels (``kraft.broker_config.topic_default_levels``), so
    that each config says which of them its value comes from."""
    own = _stored(topic_configs)
    return {k.name: ResolvedConfig(k, own.get(k.name), levels[k.name][0][1] if levels.get(k.name) else None,
                                   levels.get(k.name, ())) for k in CONFIGS}


def check_effective(resolved: Mapping[str, ResolvedConfig], *, max_record_bytes: int) -> None:
    """Rules between keys, on the values a topic would have, as Kafka's own (min <= max compaction
    lag), and max.message.bytes within the node's max_record_bytes: a larger batch could not travel
    in a frame. InvalidConfig naming the key to change."""
    low, high = resolved["min.compaction.lag.ms"].value, resolved["max.compaction.lag.ms"].value
    if isinstance(low, int) and isinstance(high, int) and low > high:
        raise InvalidConfig(f"min.compaction.lag.ms: {low} is more than max.compaction.lag.ms ({high})",
                            key="min.compaction.lag.ms")
    limit = resolved["max.message.bytes"].value
    if isinstance(limit, int) and limit > max_record_bytes:
        raise InvalidConfig(f"max.message.bytes: {limit} is over this cluster's max_record_bytes ({max_record_bytes}), "
                            "the largest batch a node accepts", key="max.message.bytes")


# --- changes ----------------------------------------------------------------------------------------


class AlterOp(enum.IntEnum):
    """Kafka's IncrementalAlterConfigs operations (their wire numbers)."""

    SET = 0
    DELETE = 1
    APPEND = 2  # list configs only: add items
    SUBTRACT = 3  # list configs only: remove items


@dataclass(frozen=True, slots=True)
class ConfigChange:
    name: str
    op: AlterOp
    value: object = None


@dataclass(frozen=True, slots=True)
class ConfigUpdate:
    """What the metadata group applies, all at once: ``set`` over the topic's configs, then ``delete``
    (with ``replace``, every config not in ``set`` goes: Kafka's non-incremental AlterConfigs)."""

    set: dict[str, ConfigValue]
    delete: tuple[str, ...]
    replace: bool = False

    def applied_to(self, current: Mapping[str, ConfigValue]) -> dict[str, ConfigValue]:
        """The topic's configs after this update (the metadata machine does the same to its row)."""
        out = {} if self.replace else dict(current)
        out.update(self.set)
        for name in self.delete:
            out.pop(name, None)
        return out


def plan_update(current: Mapping[str, object], cluster_defaults: Mapping[str, ConfigValue],
                changes: Sequence[ConfigChange], *, replace: bool = False) -> ConfigUpdate:
    """The update ``changes`` make to a topic whose configs are ``current``. APPEND and SUBTRACT work
    on the value the topic has now (its own, else cluster.ini's, else Kafka's default). A name
    given twice is INVALID_REQUEST (as Kafka); unknown names and bad values INVALID_CONFIG, all of
    them in one error."""
    names = [c.name for c in changes]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidRequest(f"config {twice[0]!r} is given twice in one request")
    effective = resolve(current, cluster_defaults)
    raw: dict[str, object] = {}
    delete: list[str] = []
    problems: list[str] = []
    for change in changes:
        key = BY_NAME.get(change.name)
        if key is None:
            problems.append(f"{change.name}: {_unknown(change.name)}")
        elif change.op is AlterOp.SET:
            raw[change.name] = change.value
        elif change.op is AlterOp.DELETE:
            delete.append(change.name)
        elif key.kind is not Kind.LIST:
            problems.append(f"{change.name}: {change.op.name} is only for list configs (cleanup.policy)")
        else:
            raw[change.name] = _list_change(effective[change.name].value, change)
    if problems:
        raise InvalidConfig("; ".join(problems), key=problems[0].split(":", 1)[0])
    return ConfigUpdate(validate_configs(raw), tuple(delete), replace)


def list_change(current: ConfigValue, change: ConfigChange) -> str:
    """A list config's text after APPEND or SUBTRACT (unchecked: an emptied list is the caller's)."""
    return _list_change(current, change)


def _list_change(current: ConfigValue, change: ConfigChange) -> str:
    items = [i for i in str(current).split(",") if i]
    given = change.value
    new = [i.strip() for i in given.split(",")] if isinstance(given, str) else []
    if change.op is AlterOp.APPEND:
        items += [i for i in new if i not in items]
    else:
        items = [i for i in items if i not in new]
    return ",".join(items)  # validated by the caller: an emptied policy is refused there


# --- what the log layer reads -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogConfig:
    """A topic's effective configs as typed fields, for the code that acts on them (produce checks,
    the retention and compaction passes). Build it with ``log_config``."""

    cleanup_policy: frozenset[str]
    retention_ms: int
    retention_bytes: int
    delete_retention_ms: int
    min_compaction_lag_ms: int
    max_compaction_lag_ms: int
    min_cleanable_dirty_ratio: float
    max_message_bytes: int
    message_timestamp_type: str

    @property
    def compact(self) -> bool:
        return "compact" in self.cleanup_policy

    @property
    def delete(self) -> bool:
        return "delete" in self.cleanup_policy

    @property
    def log_append_time(self) -> bool:
        return self.message_timestamp_type == "LogAppendTime"


def log_config(topic_configs: Mapping[str, object], cluster_defaults: Mapping[str, ConfigValue]) -> LogConfig:
    """The typed effective configs of a topic (see ``resolve`` for the order of precedence)."""
    r = {name: c.value for name, c in resolve(topic_configs, cluster_defaults).items()}
    return LogConfig(
        cleanup_policy=frozenset(str(r["cleanup.policy"]).split(",")),
        retention_ms=int(r["retention.ms"]),
        retention_bytes=int(r["retention.bytes"]),
        delete_retention_ms=int(r["delete.retention.ms"]),
        min_compaction_lag_ms=int(r["min.compaction.lag.ms"]),
        max_compaction_lag_ms=int(r["max.compaction.lag.ms"]),
        min_cleanable_dirty_ratio=float(r["min.cleanable.dirty.ratio"]),
        max_message_bytes=int(r["max.message.bytes"]),
        message_timestamp_type=str(r["message.timestamp.type"]),
    )
