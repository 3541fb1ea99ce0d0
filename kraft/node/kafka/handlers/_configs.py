"""What the Kafka config APIs share (DescribeConfigs, AlterConfigs, IncrementalAlterConfigs): Kafka's
resource types and config sources, and the check of a BROKER resource's name.

kraft has two kinds of config resource: topics (their own configs over the cluster's defaults) and
brokers, whose topic-config defaults are cluster.ini's [cluster] section: static, the same file on
every node, so any node answers for any broker, and nothing changes them at run time.
"""

from __future__ import annotations

from kraft import errors
from kraft.node.kafka.context import KafkaContext
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
