"""What the Kafka config APIs share (DescribeConfigs, AlterConfigs, IncrementalAlterConfigs): Kafka's
resource types and config sources, and the check of a BROKER resource's name.

kraft has two kinds of config resource: topics (their own configs over the cluster's defaults) and
brokers: cluster.ini's [cluster] section (static, the same file on every node) under the dynamic
broker configs (``kraft.broker_config``), which the metadata group replicates, so any node answers
for any broker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kraft import errors
from kraft.broker_config import Source as BrokerSource
from kraft.node import access as _auth
from kraft.node import log_levels
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.state.acls import Operation
from kraft.topic_config import ConfigChange, Source

TOPIC = 2
BROKER = 4
BROKER_LOGGER = 8  # this node's logger levels (kraft.node.log_levels)

# Kafka's ConfigSource numbers for where a value comes from.
TOPIC_CONFIG = 1  # DYNAMIC_TOPIC_CONFIG
DYNAMIC_BROKER_CONFIG = 2
DYNAMIC_DEFAULT_BROKER_CONFIG = 3
STATIC_BROKER_CONFIG = 4  # cluster.ini
DEFAULT_CONFIG = 5  # Kafka's built-in default
DYNAMIC_BROKER_LOGGER_CONFIG = 6
SOURCE_CODES = {Source.TOPIC: TOPIC_CONFIG, Source.DYNAMIC_BROKER: DYNAMIC_BROKER_CONFIG,
                Source.DYNAMIC_DEFAULT: DYNAMIC_DEFAULT_BROKER_CONFIG, Source.CLUSTER: STATIC_BROKER_CONFIG,
                Source.DEFAULT: DEFAULT_CONFIG}
BROKER_SOURCE_CODES = {BrokerSource.DYNAMIC_BROKER: DYNAMIC_BROKER_CONFIG,
                       BrokerSource.DYNAMIC_DEFAULT: DYNAMIC_DEFAULT_BROKER_CONFIG,
                       BrokerSource.STATIC: STATIC_BROKER_CONFIG, BrokerSource.DEFAULT: DEFAULT_CONFIG}


def check_broker(ctx: KafkaContext, name: str) -> None:
    """A BROKER resource names a node of this cluster, or is "" (the cluster-wide defaults)."""
    if name == "":
        return
    nodes = {n.node_id for n in ctx.broker.metadata([]).nodes}
    if not name.isdigit() or int(name) not in nodes:
        raise errors.InvalidRequest(f"no broker {name!r} in this cluster (brokers: {sorted(nodes)})")


def check_this_broker(ctx: KafkaContext, name: str) -> None:
    """A BROKER_LOGGER resource names the node it is sent to, as Kafka's."""
    if name == "":
        raise errors.InvalidRequest("a broker logger resource needs a broker id")
    if name != str(ctx.broker.node_id):
        raise errors.InvalidRequest(f"unexpected broker id: this is broker {ctx.broker.node_id}, not {name!r}")


def unsupported(resource_type: int) -> errors.KraftError:
    return errors.InvalidRequest(f"config resource type {resource_type} is not supported: kraft has topic "
                                 f"({TOPIC}), broker ({BROKER}) and broker logger ({BROKER_LOGGER}) configs")


async def alter_each(ctx: KafkaContext, request: dict[str, Any],
                     changes: Callable[[dict[str, Any]], list[ConfigChange]], replace: bool) -> dict[str, Any]:
    """The answer of AlterConfigs and IncrementalAlterConfigs: each resource on its own, its
    ``changes`` applied to a topic's configs or a broker's dynamic ones (``replace``: the others go)."""
    validate_only = bool(request.get("validate_only"))
    responses = []
    for r in request["resources"]:
        res: dict[str, Any] = {"resource_type": r["resource_type"], "resource_name": r["resource_name"],
                               "error_code": 0, "error_message": None}
        try:
            if r["resource_type"] == TOPIC:
                if not _auth.topic(ctx, Operation.ALTER_CONFIGS, r["resource_name"]):
                    raise errors.TopicAuthorizationFailed(
                        f"ALTER_CONFIGS on topic {r['resource_name']!r} is not allowed")
                await ctx.broker.alter_configs(r["resource_name"], changes(r), replace=replace,
                                               validate_only=validate_only)
            elif r["resource_type"] == BROKER:
                _auth.require_cluster(ctx, Operation.ALTER_CONFIGS)  # as Kafka: broker configs are the cluster's
                check_broker(ctx, r["resource_name"])
                await ctx.broker.alter_broker_configs(r["resource_name"], changes(r), replace=replace,
                                                      validate_only=validate_only)
            elif r["resource_type"] == BROKER_LOGGER:
                _auth.require_cluster(ctx, Operation.ALTER_CONFIGS)
                check_this_broker(ctx, r["resource_name"])
                if replace:
                    raise errors.InvalidRequest("AlterConfigs does not support broker loggers: use "
                                                "IncrementalAlterConfigs")
                log_levels.apply([log_levels.LevelChange(c.name, c.op, None if c.value is None else str(c.value))
                                  for c in changes(r)], validate_only=validate_only)
            else:
                raise unsupported(r["resource_type"])
        except errors.KraftError as e:
            res["error_code"], res["error_message"] = kafka_code(e), e.message
        responses.append(res)
    return {"throttle_time": 0, "responses": responses}
