"""DescribeConfigs (32): a topic's configs with their sources as Kafka reports them (TOPIC_CONFIG for
the topic's own, DYNAMIC_BROKER_CONFIG / DYNAMIC_DEFAULT_BROKER_CONFIG for a default from a dynamic
broker config, STATIC_BROKER_CONFIG for cluster.ini's, DEFAULT_CONFIG for Kafka's built-in default),
or a broker's dynamic-capable configs (``kraft.broker_config``: the broker names of topic configs, whose
values are topics' defaults, and the ones stored and reported only) with their sources (DYNAMIC_BROKER_CONFIG,
DYNAMIC_DEFAULT_BROKER_CONFIG, STATIC_BROKER_CONFIG from cluster.ini, DEFAULT_CONFIG) and, for a named
broker, its ``broker.id`` and ``broker.rack`` (the node's ``rack`` in cluster.ini, null
without one, as Kafka: librdkafka's 0101 counts racks with it), or, for a BROKER_LOGGER resource naming
the node asked, its loggers' levels (``kraft.node.log_levels``; DYNAMIC_BROKER_LOGGER_CONFIG).
Each resource is answered on its own; synonyms and documentation when asked for."""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.broker_config import BrokerConfig
from kraft.node import access as _auth
from kraft.node import log_levels
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.node.kafka.handlers._configs import (
    BROKER,
    BROKER_LOGGER,
    BROKER_SOURCE_CODES,
    DEFAULT_CONFIG,
    DYNAMIC_BROKER_LOGGER_CONFIG,
    SOURCE_CODES,
    STATIC_BROKER_CONFIG,
    TOPIC,
    TOPIC_CONFIG,
    check_broker,
    check_this_broker,
    unsupported,
)
from kraft.state.acls import Operation
from kraft.topic_config import ResolvedConfig, Source, format_value

API_KEY = 32
MIN_VERSION = 1  # kio has no v0 (Kafka 4 dropped it); every client we test asks v1 or later
MAX_VERSION = 4


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    synonyms = bool(request.get("include_synonyms"))
    docs = bool(request.get("include_documentation"))
    results = []
    for r in request["resources"]:
        res: dict[str, Any] = {"resource_type": r["resource_type"], "resource_name": r["resource_name"],
                               "error_code": 0, "error_message": None, "configs": []}
        try:
            if r["resource_type"] == TOPIC:
                if not _auth.topic(ctx, Operation.DESCRIBE_CONFIGS, r["resource_name"]):
                    raise errors.TopicAuthorizationFailed(f"DESCRIBE_CONFIGS on topic {r['resource_name']!r} "
                                                          f"is not allowed")
                topic = ctx.broker.describe_configs(r["resource_name"])
                entries = [_topic_entry(c, synonyms, docs) for c in topic.values()]
            elif r["resource_type"] == BROKER:
                _auth.require_cluster(ctx, Operation.DESCRIBE_CONFIGS)
                check_broker(ctx, r["resource_name"])
                entries = [_broker_entry(c, synonyms, docs)
                           for c in ctx.broker.describe_broker_configs(r["resource_name"])]
                entries += _node_entries(ctx, r["resource_name"], synonyms, docs)
            elif r["resource_type"] == BROKER_LOGGER:
                _auth.require_cluster(ctx, Operation.DESCRIBE_CONFIGS)
                check_this_broker(ctx, r["resource_name"])
                entries = [_logger_entry(name, level, synonyms) for name, level in log_levels.loggers().items()]
            else:
                raise unsupported(r["resource_type"])
            keys = r.get("configuration_keys")
            if keys:  # null or empty: every config
                entries = [e for e in entries if e["name"] in keys]
            res["configs"] = entries
        except errors.KraftError as e:
            res["error_code"], res["error_message"] = kafka_code(e), e.message
        results.append(res)
    return {"throttle_time": 0, "results": results}


def _default_synonyms(c: ResolvedConfig) -> list[dict[str, Any]]:
    """Kafka lists synonyms from the most specific source down: the node's dynamic broker config,
    the cluster-wide one, cluster.ini's, then the built-in."""
    levels = c.levels or (((Source.CLUSTER, c.cluster_value),) if c.cluster_value is not None else ())
    out = [{"name": c.key.broker_name, "value": format_value(value), "source": SOURCE_CODES[source]}
           for source, value in levels]
    out.append({"name": c.key.broker_name, "value": format_value(c.key.default), "source": DEFAULT_CONFIG})
    return out


def _topic_entry(c: ResolvedConfig, synonyms: bool, docs: bool) -> dict[str, Any]:
    own = [] if c.topic_value is None else [
        {"name": c.name, "value": format_value(c.topic_value), "source": TOPIC_CONFIG}]
    return {"name": c.name, "value": format_value(c.value), "read_only": False,
            "config_source": SOURCE_CODES[c.source], "is_sensitive": False,
            "synonyms": own + _default_synonyms(c) if synonyms else [],
            "config_type": c.key.kind.value, "documentation": c.key.doc if docs else None}


def _broker_entry(c: BrokerConfig, synonyms: bool, docs: bool) -> dict[str, Any]:
    """A broker config Kafka lets change at run time, with every level that sets it as synonyms."""
    return {"name": c.key.name, "value": format_value(c.value), "read_only": False,
            "config_source": BROKER_SOURCE_CODES[c.source], "is_sensitive": False,
            "synonyms": [{"name": c.key.name, "value": format_value(v), "source": BROKER_SOURCE_CODES[s]}
                         for s, v in c.levels] if synonyms else [],
            "config_type": c.key.kind.value, "documentation": c.key.doc if docs else None}


def _logger_entry(name: str, level: str, synonyms: bool) -> dict[str, Any]:
    """One of this node's loggers and its effective level, as Kafka's BROKER_LOGGER answers it."""
    return {"name": name, "value": level, "read_only": False, "config_source": DYNAMIC_BROKER_LOGGER_CONFIG,
            "is_sensitive": False,
            "synonyms": [{"name": name, "value": level, "source": DYNAMIC_BROKER_LOGGER_CONFIG}] if synonyms else [],
            "config_type": 2, "documentation": None}


def _node_entries(ctx: KafkaContext, name: str, synonyms: bool, docs: bool) -> list[dict[str, Any]]:
    """What Kafka reports of one broker's own identity; none for "" (the cluster-wide defaults)."""
    if name == "":
        return []
    node = next(n for n in ctx.broker.metadata([]).nodes if n.node_id == int(name))  # check_broker found it
    rack_source = STATIC_BROKER_CONFIG if node.rack is not None else DEFAULT_CONFIG
    own = [("broker.id", name, STATIC_BROKER_CONFIG, 3, "the node's id (cluster.ini's [node.<id>])"),
           ("broker.rack", node.rack, rack_source, 2, "the node's rack (cluster.ini's rack): rack-aware "
                                                      "replica placement, Metadata's racks")]
    return [{"name": key, "value": value, "read_only": True, "config_source": source, "is_sensitive": False,
             "synonyms": [{"name": key, "value": value, "source": source}] if synonyms else [],
             "config_type": kind, "documentation": doc if docs else None}
            for key, value, source, kind, doc in own]
