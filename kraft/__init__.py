"""kraft: a Kafka-like streaming platform in Python.

The public client API::

    from kraft import Admin, Producer, Consumer, TopicPartition
"""

from kraft.apis import (
    Admin,
    Consumer,
    ConsumerRecord,
    PartitionInfo,
    Producer,
    RecordMetadata,
    TopicDescription,
    TopicPartition,
)
from kraft.errors import (
    CorruptRecord,
    InvalidPartitions,
    InvalidReplicationFactor,
    InvalidTopic,
    KraftConnectionError,
    KraftError,
    LeaderNotAvailable,
    NotLeader,
    OffsetOutOfRange,
    RecordTooLarge,
    RequestTimedOut,
    TopicAlreadyExists,
    UnknownTopicOrPartition,
)

__version__ = "0.1.0"

__all__ = [
    "Admin",
    "Consumer",
    "ConsumerRecord",
    "CorruptRecord",
    "InvalidPartitions",
    "InvalidReplicationFactor",
    "InvalidTopic",
    "KraftConnectionError",
    "KraftError",
    "LeaderNotAvailable",
    "NotLeader",
    "OffsetOutOfRange",
    "PartitionInfo",
    "Producer",
    "RecordMetadata",
    "RecordTooLarge",
    "RequestTimedOut",
    "TopicAlreadyExists",
    "TopicDescription",
    "TopicPartition",
    "UnknownTopicOrPartition",
]
