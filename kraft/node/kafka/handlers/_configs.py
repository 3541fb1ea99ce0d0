"""What the Kafka config APIs share (DescribeConfigs, AlterConfigs, IncrementalAlterConfigs): Kafka's
resource types and config sources, and the check of a BROKER resource's name.

kraft has two kinds of config resource: topics (their own configs over the cluster's defaults) and
brokers, whose topic-config defaults are cluster.ini's [cluster] section: static, the same file on
every node, so any node answers for any broker, and nothing changes them at run time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kraft import errors
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.topic_config import Source

TOPIC = 2
BROKER = 4

# Kafka's ConfigSource numbers for where a value comes from.
TOPIC_CONFIG = 1  # DYNAMIC_TOPIC_CONFIG
STATIC_BROKER_CONFIG = 4  # cluster.ini
DEFAULT_CONFIG = 5  # Kafka's built-in default
SOURCE_CODES = {Source.TOPIC: TOPIC_CONFIG, Source.CLUSTER: STATIC_BROKER_CONFIG, Source.DEFAULT: DEFAULT_CONFIG}


def check_broker(ctx: KafkaContext, name: str) -> None:
    """A BROKER resource names a node of this cluster, or is "" (the cluster-wide defaults)."""
    if name == "":
        return
    nodes = {n.node_id for n in ctx.broker.metadata([]).nodes}
    if not name.isdigit() or int(name) not in nodes:
        raise errors.InvalidRequest(f"no broker {name!r} in this cluster (brokers: {sorted(nodes)})")


def unsupported(resource_type: int) -> errors.KraftError:
    return errors.InvalidRequest(f"config resource type {resource_type} is not supported: kraft has topic "
                                 f"({TOPIC}) and broker ({BROKER}) configs")


async def alter_each(ctx: KafkaContext, request: dict[str, Any],
                     alter_topic: Callable[[dict[str, Any]], Awaitable[None]]) -> dict[str, Any]:
    """The answer of AlterConfigs and IncrementalAlterConfigs: each resource on its own, topics by
    ``alter_topic``, brokers refused (their configs are cluster.ini's, fixed while nodes run)."""
    responses = []
    for r in request["resources"]:
        res: dict[str, Any] = {"resource_type": r["resource_type"], "resource_name": r["resource_name"],
                               "error_code": 0, "error_message": None}
        try:
            if r["resource_type"] == TOPIC:
                await alter_topic(r)
            elif r["resource_type"] == BROKER:
                check_broker(ctx, r["resource_name"])
                raise errors.InvalidRequest("broker configs are the [cluster] section of cluster.ini: "
                                            "they cannot be changed while nodes run")
            else:
                raise unsupported(r["resource_type"])
        except errors.KraftError as e:
            res["error_code"], res["error_message"] = kafka_code(e), e.message
        responses.append(res)
    return {"throttle_time": 0, "responses": responses}
