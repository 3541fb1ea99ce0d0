"""kraft: a Kafka-like streaming platform in Python.

The public client API::

    from kraft import Admin, Producer, Consumer, TopicPartition
"""

from kraft.apis import (
    Admin,
    Consumer,
    ConsumerRecord,
    GroupDescription,
    MemberInfo,
    PartitionInfo,
    PartitionOffsets,
    Producer,
    RecordMetadata,
    TopicDescription,
    TopicPartition,
)
from kraft.errors import (
    CoordinatorNotAvailable,
    CorruptRecord,
    GroupIdNotFound,
    IllegalGeneration,
    InconsistentGroupProtocol,
    InvalidPartitions,
    InvalidReplicationFactor,
    InvalidSessionTimeout,
    InvalidTopic,
    KraftConnectionError,
    KraftError,
    LeaderNotAvailable,
    NonEmptyGroup,
    NotCoordinator,
    NotLeader,
    OffsetOutOfRange,
    RebalanceInProgress,
    RecordTooLarge,
    RequestTimedOut,
    TopicAlreadyExists,
    UnknownMemberId,
    UnknownTopicOrPartition,
)

__version__ = "0.1.0"

__all__ = [
    "Admin",
    "Consumer",
    "ConsumerRecord",
    "CoordinatorNotAvailable",
    "CorruptRecord",
    "GroupDescription",
    "GroupIdNotFound",
    "IllegalGeneration",
    "InconsistentGroupProtocol",
    "InvalidPartitions",
    "InvalidReplicationFactor",
    "InvalidSessionTimeout",
    "InvalidTopic",
    "KraftConnectionError",
    "KraftError",
    "LeaderNotAvailable",
    "MemberInfo",
    "NonEmptyGroup",
    "NotCoordinator",
    "NotLeader",
    "OffsetOutOfRange",
    "PartitionInfo",
    "PartitionOffsets",
    "Producer",
    "RebalanceInProgress",
    "RecordMetadata",
    "RecordTooLarge",
    "RequestTimedOut",
    "TopicAlreadyExists",
    "TopicDescription",
    "TopicPartition",
    "UnknownMemberId",
    "UnknownTopicOrPartition",
]
