"""The Python client library: Admin, Producer, Consumer and their value types.

Layers: ``connection`` (one pipelined asyncio connection) < ``client_core`` (loop thread,
metadata, retries) < the ``admin`` / ``producer`` / ``consumer`` facades.
"""

from .admin import Admin
from .consumer import Consumer
from .producer import Producer
from .types import (
    ClusterDescription,
    ConfigEntry,
    ConsumerRecord,
    GroupDescription,
    LeaderElection,
    MemberInfo,
    NodeDescription,
    PartitionInfo,
    PartitionOffsets,
    PlannedMove,
    Reassignment,
    RebalancePlan,
    RecordMetadata,
    TopicDescription,
    TopicPartition,
)

__all__ = [
    "Admin",
    "ClusterDescription",
    "ConfigEntry",
    "Consumer",
    "ConsumerRecord",
    "GroupDescription",
    "LeaderElection",
    "MemberInfo",
    "NodeDescription",
    "PartitionInfo",
    "PartitionOffsets",
    "PlannedMove",
    "Producer",
    "Reassignment",
    "RebalancePlan",
    "RecordMetadata",
    "TopicDescription",
    "TopicPartition",
]
