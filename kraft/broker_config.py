"""Dynamic broker configs: the Kafka broker configs kraft lets AlterConfigs / IncrementalAlterConfigs
change while nodes run, what each does, and how a broker's value and its source are resolved.

Owns: ``DYNAMIC`` (every broker config kraft accepts at run time, with what it does in kraft),
``READ_ONLY`` (broker configs Kafka knows but kraft cannot change at run time), planning a change
(``plan_update``), a broker's configs with their sources and synonyms (``describe``), and the
topic-config defaults a node uses once dynamic values are laid over cluster.ini's (``topic_defaults``).
Must not: read files or clocks, know a wire shape, or touch storage. It is pure: the proposer
validates with it before an ``alter_broker_configs`` command reaches the metadata group, which
stores each broker's dynamic configs as text (one row per broker; "" is the cluster-wide default).

What a dynamic value does:
- the broker names of topic configs (``log.retention.ms``, ``log.cleanup.policy``,
  ``message.max.bytes``, ...): the default of every topic without a value of its own, as Kafka. The
  cluster-wide value ("" resource) applies on every node, a broker's own value on that node only
  (over the cluster-wide one, over cluster.ini's [cluster] section, over Kafka's default). What a
  node decides as a partition's leader (retention, compaction, produce checks) uses its own.
- every other row is stored and reported only (DescribeConfigs answers it with its source): it
  tunes something kraft does not have (Kerberos logins, Kafka's thread pools, connection quotas,
  replication throttles).
Refusals, as Kafka's: an unknown name INVALID_CONFIG, a read-only one INVALID_REQUEST, a bad value
INVALID_CONFIG, a name twice in one request INVALID_REQUEST.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from kraft.errors import InvalidConfig, InvalidRequest
from kraft.topic_config import (
    CONFIGS,
    INT_MAX,
    LONG_MAX,
    AlterOp,
    ConfigChange,
    ConfigKey,
    ConfigValue,
    DefaultLevels,
    Kind,
    format_value,
    list_change,
    parse_key,
)
from kraft.topic_config import Source as TopicSource


class Source(enum.StrEnum):
    """Where a broker config's value comes from, most specific first (Kafka's ConfigSource names)."""

    DYNAMIC_BROKER = "dynamic_broker"  # set for this broker at run time
    DYNAMIC_DEFAULT = "dynamic_default"  # set for every broker at run time (the "" resource)
    STATIC = "static"  # cluster.ini
    DEFAULT = "default"  # Kafka's built-in default


@dataclass(frozen=True, slots=True)
class DynamicKey:
    """One row: the config (name, type, default, range, what it does) and, for a topic config's
    broker name, the topic config whose default it sets (None: stored and reported only)."""

    key: ConfigKey
    topic: str | None = None


def _stored_only(name: str, kind: Kind, default: ConfigValue, doc: str, low: float | None = 0,
                 high: float | None = None) -> DynamicKey:
    return DynamicKey(ConfigKey(name, kind, default, None, name, f"{doc}; stored and reported only: {_WHY}",
                                low=low, high=high))


_WHY = "kraft has no such mechanism"

_TOPIC_DEFAULTS = tuple(
    DynamicKey(replace(c, name=c.broker_name, doc=f"the default of topics' {c.name}: {c.doc}"), c.name)
    for c in CONFIGS)
DYNAMIC: tuple[DynamicKey, ...] = (
    *_TOPIC_DEFAULTS,
    # librdkafka's 0081 sets it (kraft has no SASL listener, so no Kerberos login to renew)
    _stored_only("sasl.kerberos.min.time.before.relogin", Kind.LONG, 60000, "Kafka's login thread sleep (ms)"),
    _stored_only("sasl.kerberos.ticket.renew.window.factor", Kind.DOUBLE, 0.8,
                 "Kafka's share of a Kerberos ticket's life before renewal", high=1.0),
    _stored_only("sasl.kerberos.ticket.renew.jitter", Kind.DOUBLE, 0.05, "Kafka's jitter of that renewal", high=1.0),
    # librdkafka's 0081 sets and deletes it (kraft's node is one asyncio loop and a Raft driver thread)
    _stored_only("background.threads", Kind.INT, 10, "Kafka's background task threads", low=1, high=INT_MAX),
    _stored_only("num.io.threads", Kind.INT, 8, "Kafka's request handler threads", low=1, high=INT_MAX),
    _stored_only("num.network.threads", Kind.INT, 3, "Kafka's network threads", low=1, high=INT_MAX),
    _stored_only("num.replica.fetchers", Kind.INT, 1, "Kafka's replica fetcher threads", low=1, high=INT_MAX),
    _stored_only("num.recovery.threads.per.data.dir", Kind.INT, 1, "Kafka's log recovery threads", low=1,
                 high=INT_MAX),
    _stored_only("log.cleaner.threads", Kind.INT, 1, "Kafka's log cleaner threads", high=INT_MAX),
    _stored_only("log.cleaner.io.max.bytes.per.second", Kind.DOUBLE, 1.7976931348623157e308,
                 "Kafka's cleaner I/O throttle (bytes/s)", high=1.7976931348623157e308),
    _stored_only("log.cleaner.dedupe.buffer.size", Kind.LONG, 134217728, "Kafka's cleaner dedupe buffer (bytes)",
                 high=LONG_MAX),
    _stored_only("max.connections", Kind.INT, INT_MAX, "Kafka's connection limit", high=INT_MAX),
    _stored_only("max.connections.per.ip", Kind.INT, INT_MAX, "Kafka's connection limit per address", high=INT_MAX),
    _stored_only("max.connection.creation.rate", Kind.INT, INT_MAX, "Kafka's new connections per second",
                 high=INT_MAX),
    _stored_only("leader.replication.throttled.rate", Kind.LONG, LONG_MAX, "Kafka's leader replication throttle "
                 "(bytes/s)", high=LONG_MAX),
    _stored_only("follower.replication.throttled.rate", Kind.LONG, LONG_MAX, "Kafka's follower replication "
                 "throttle (bytes/s)", high=LONG_MAX),
)

BY_NAME: Mapping[str, DynamicKey] = {d.key.name: d for d in DYNAMIC}

# Broker configs Kafka has that cannot change while kraft runs: a node's identity and addresses,
# and what cluster.ini fixes for the whole cluster. INVALID_REQUEST, as Kafka's "cannot be updated
# dynamically".
READ_ONLY: frozenset[str] = frozenset({
    "broker.id", "node.id", "broker.rack", "process.roles", "controller.quorum.voters", "log.dirs", "log.dir",
    "listeners", "advertised.listeners", "zookeeper.connect", "num.partitions", "default.replication.factor",
    "auto.create.topics.enable", "offsets.topic.replication.factor", "offsets.topic.num.partitions",
    "transaction.state.log.replication.factor", "group.initial.rebalance.delay.ms",
})


@dataclass(frozen=True, slots=True)
class BrokerConfigUpdate:
    """What the metadata group applies to one broker's dynamic configs: ``set`` (value texts) over
    them, then ``delete``; with ``replace``, only ``set`` remains."""

    set: dict[str, str]
    delete: tuple[str, ...]
    replace: bool = False

    def applied_to(self, current: Mapping[str, str]) -> dict[str, str]:
        out = {} if self.replace else dict(current)
        out.update(self.set)
        for name in self.delete:
            out.pop(name, None)
        return out


def plan_update(current: Mapping[str, str], changes: Sequence[ConfigChange], *,
                replace: bool = False) -> BrokerConfigUpdate:
    """The update ``changes`` make to a broker resource whose dynamic configs are ``current``.
    APPEND and SUBTRACT work on the resource's own value, else Kafka's default (as Kafka's)."""
    names = [c.name for c in changes]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidRequest(f"config {twice[0]!r} is given twice in one request")
    fixed = sorted(n for n in names if n in READ_ONLY)
    if fixed:
        raise InvalidRequest(f"cannot update these configs dynamically: {', '.join(fixed)} "
                             "(kraft's are cluster.ini's, read when a node starts)")
    out: dict[str, str] = {}
    delete: list[str] = []
    problems: list[str] = []
    for change in changes:
        row = BY_NAME.get(change.name)
        if row is None:
            problems.append(f"{change.name}: not a broker config kraft changes at run time")
            continue
        try:
            if change.op is AlterOp.DELETE:
                delete.append(change.name)
            elif change.op is AlterOp.SET:
                out[change.name] = format_value(parse_key(row.key, change.value))
            elif row.key.kind is not Kind.LIST:
                problems.append(f"{change.name}: {change.op.name} is only for list configs")
            else:
                now = current.get(change.name, format_value(row.key.default))
                out[change.name] = format_value(parse_key(row.key, list_change(now, change)))
        except InvalidConfig as e:
            problems.append(e.message)
    if problems:
        raise InvalidConfig("; ".join(problems), key=problems[0].split(":", 1)[0])
    return BrokerConfigUpdate(out, tuple(delete), replace)


def _parsed(row: DynamicKey, text: str | None) -> ConfigValue | None:
    """A stored text as its value (None: absent, or no longer valid under this table)."""
    if text is None:
        return None
    try:
        return parse_key(row.key, text)
    except InvalidConfig:
        return None


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """One config of a broker: its value and where it comes from, and every level that has one
    (Kafka's synonyms, most specific first)."""

    key: ConfigKey
    levels: tuple[tuple[Source, ConfigValue], ...]  # never empty: DEFAULT is always there

    @property
    def value(self) -> ConfigValue:
        return self.levels[0][1]

    @property
    def source(self) -> Source:
        return self.levels[0][0]


def describe(dynamic: Mapping[str, Mapping[str, str]], broker: str,
             static: Mapping[str, ConfigValue]) -> list[BrokerConfig]:
    """Every dynamic-capable config of ``broker`` (a node id, or "" for the cluster-wide defaults,
    which have no per-broker level), in table order. ``dynamic`` is the metadata group's configs by
    broker; ``static`` cluster.ini's topic-config defaults by topic config name."""
    own = dynamic.get(broker, {}) if broker else {}
    default = dynamic.get("", {})
    out = []
    for row in DYNAMIC:
        levels: list[tuple[Source, ConfigValue]] = []
        for source, value in ((Source.DYNAMIC_BROKER, _parsed(row, own.get(row.key.name))),
                              (Source.DYNAMIC_DEFAULT, _parsed(row, default.get(row.key.name))),
                              (Source.STATIC, static.get(row.topic) if row.topic else None),
                              (Source.DEFAULT, row.key.default)):
            if value is not None:
                levels.append((source, value))
        out.append(BrokerConfig(row.key, tuple(levels)))
    return out


def topic_defaults(dynamic: Mapping[str, Mapping[str, str]], node_id: int,
                   static: Mapping[str, ConfigValue]) -> dict[str, ConfigValue]:
    """The topic-config defaults node ``node_id`` uses: cluster.ini's (``static``, by topic config
    name), under the cluster-wide dynamic values, under the node's own."""
    return {name: levels[0][1] for name, levels in topic_default_levels(dynamic, node_id, static).items()}


def topic_default_levels(dynamic: Mapping[str, Mapping[str, str]], node_id: int,
                         static: Mapping[str, ConfigValue]) -> dict[str, DefaultLevels]:
    """Every level that sets a topic config's default on node ``node_id``, by topic config name, the
    one in effect first: the node's own dynamic value, the cluster-wide one, cluster.ini's."""
    levels: dict[str, list[tuple[TopicSource, ConfigValue]]] = {
        name: [(TopicSource.CLUSTER, value)] for name, value in static.items()}
    for broker, source in (("", TopicSource.DYNAMIC_DEFAULT), (str(node_id), TopicSource.DYNAMIC_BROKER)):
        for name, text in (dynamic.get(broker) or {}).items():
            row = BY_NAME.get(name)
            if row is not None and row.topic is not None:
                value = _parsed(row, text)
                if value is not None:
                    levels.setdefault(row.topic, []).insert(0, (source, value))
    return {name: tuple(found) for name, found in levels.items()}
