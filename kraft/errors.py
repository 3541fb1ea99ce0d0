"""Error classes with stable codes, shared by the node and the clients.

A code is part of the wire protocol: once published it never changes meaning. The node raises these
in domain code; the request boundary turns them into ``(code, message)`` on the wire, and the client
turns the pair back into the same class with :func:`error_for_code`. ``retriable`` tells a client
whether repeating the request (after refreshing metadata) can succeed.
"""

from __future__ import annotations

from typing import ClassVar


class KraftError(Exception):
    """Base of every kraft error. ``code`` is stable across versions."""

    code: ClassVar[int] = -1
    name: ClassVar[str] = "UNKNOWN_SERVER_ERROR"
    retriable: ClassVar[bool] = False

    def __init__(self, message: str = "", **details: object) -> None:
        super().__init__(message or self.name)
        self.message = message or self.name
        self.details = details

    def __str__(self) -> str:
        return f"{self.name}: {self.message}" if self.message != self.name else self.name


_BY_CODE: dict[int, type[KraftError]] = {}


def _register(cls: type[KraftError]) -> type[KraftError]:
    if cls.code in _BY_CODE:
        raise RuntimeError(f"duplicate error code {cls.code}")
    _BY_CODE[cls.code] = cls
    return cls


_register(KraftError)


@_register
class UnknownTopicOrPartition(KraftError):
    code = 3
    name = "UNKNOWN_TOPIC_OR_PARTITION"
    retriable = True  # as in Kafka: metadata may not have reached this node yet


@_register
class LeaderNotAvailable(KraftError):
    code = 5
    name = "LEADER_NOT_AVAILABLE"
    retriable = True


@_register
class NotLeader(KraftError):
    code = 6
    name = "NOT_LEADER_OR_FOLLOWER"
    retriable = True


@_register
class RequestTimedOut(KraftError):
    code = 7
    name = "REQUEST_TIMED_OUT"
    retriable = True


@_register
class RecordTooLarge(KraftError):
    code = 10
    name = "RECORD_TOO_LARGE"


@_register
class OffsetOutOfRange(KraftError):
    code = 1
    name = "OFFSET_OUT_OF_RANGE"


@_register
class CorruptRecord(KraftError):
    code = 2
    name = "CORRUPT_MESSAGE"


@_register
class NotController(KraftError):
    code = 41
    name = "NOT_CONTROLLER"
    retriable = True


@_register
class InvalidRequest(KraftError):
    code = 42
    name = "INVALID_REQUEST"


@_register
class TopicAuthorizationFailed(KraftError):
    """Kafka's TOPIC_AUTHORIZATION_FAILED: an ACL denies this client the operation on the topic."""

    code = 29
    name = "TOPIC_AUTHORIZATION_FAILED"


@_register
class GroupAuthorizationFailed(KraftError):
    """Kafka's GROUP_AUTHORIZATION_FAILED: an ACL denies this client the operation on the group."""

    code = 30
    name = "GROUP_AUTHORIZATION_FAILED"


@_register
class ClusterAuthorizationFailed(KraftError):
    """Kafka's CLUSTER_AUTHORIZATION_FAILED: the action is not allowed here (a read-only console's
    write actions)."""

    code = 31
    name = "CLUSTER_AUTHORIZATION_FAILED"


@_register
class UnsupportedRequest(KraftError):
    code = 35
    name = "UNSUPPORTED_VERSION"


@_register
class InvalidRecord(KraftError):
    """A record batch the broker refuses as a whole (Kafka's INVALID_RECORD): e.g. transactional."""

    code = 87
    name = "INVALID_RECORD"


@_register
class TopicAlreadyExists(KraftError):
    code = 36
    name = "TOPIC_ALREADY_EXISTS"


@_register
class InvalidPartitions(KraftError):
    code = 37
    name = "INVALID_PARTITIONS"


@_register
class PolicyViolation(KraftError):
    """A request the cluster's policy refuses (a limit of cluster.ini, named in the message)."""

    code = 44
    name = "POLICY_VIOLATION"


@_register
class InvalidReplicationFactor(KraftError):
    code = 38
    name = "INVALID_REPLICATION_FACTOR"


@_register
class InvalidReplicaAssignment(KraftError):
    code = 39
    name = "INVALID_REPLICA_ASSIGNMENT"


@_register
class NoReassignmentInProgress(KraftError):
    code = 85
    name = "NO_REASSIGNMENT_IN_PROGRESS"


@_register
class InvalidTopic(KraftError):
    code = 17
    name = "INVALID_TOPIC_EXCEPTION"


@_register
class NotEnoughReplicas(KraftError):
    code = 19
    name = "NOT_ENOUGH_REPLICAS"
    retriable = True


@_register
class InvalidConfig(KraftError):
    code = 40
    name = "INVALID_CONFIG"


@_register
class UnsupportedSaslMechanism(KraftError):
    """A SCRAM credential for a mechanism other than SCRAM-SHA-256 / SCRAM-SHA-512."""

    code = 33
    name = "UNSUPPORTED_SASL_MECHANISM"


@_register
class ResourceNotFound(KraftError):
    """A user with no SCRAM credentials (described, or one of them deleted)."""

    code = 91
    name = "RESOURCE_NOT_FOUND"


@_register
class DuplicateResource(KraftError):
    """A request names the same resource twice (a user and mechanism in one SCRAM alteration)."""

    code = 92
    name = "DUPLICATE_RESOURCE"


@_register
class UnacceptableCredential(KraftError):
    """A SCRAM credential Kafka refuses: empty user, salt or password, iterations out of range."""

    code = 93
    name = "UNACCEPTABLE_CREDENTIAL"


@_register
class FrameTooLarge(KraftError):
    """A frame's length prefix is over the receiver's limit; the connection is closed."""

    code = 1001
    name = "FRAME_TOO_LARGE"


@_register
class MalformedFrame(KraftError):
    """Bytes that are not a valid frame of the native protocol; the connection is closed."""

    code = 1002
    name = "MALFORMED_FRAME"


@_register
class KraftConnectionError(KraftError):
    """The client lost (or could not open) its connection to a node."""

    code = 1003
    name = "NETWORK_EXCEPTION"
    retriable = True


@_register
class ConfigError(KraftError):
    """cluster.ini is missing, unreadable or invalid; the message names section and key."""

    code = 1004
    name = "CONFIG_ERROR"


@_register
class NodeProcessError(KraftError):
    """A local node process could not be started, signalled or stopped (``kraft cluster ...``).

    Never sent on the wire; its code sits far from the protocol's 1001.. range so that codes added
    there cannot collide with it.
    """

    code = 1100
    name = "NODE_PROCESS_ERROR"


@_register
class CoordinatorNotAvailable(KraftError):
    code = 15
    name = "COORDINATOR_NOT_AVAILABLE"
    retriable = True


@_register
class NotCoordinator(KraftError):
    code = 16
    name = "NOT_COORDINATOR"
    retriable = True


@_register
class IllegalGeneration(KraftError):
    code = 22
    name = "ILLEGAL_GENERATION"


@_register
class InconsistentGroupProtocol(KraftError):
    code = 23
    name = "INCONSISTENT_GROUP_PROTOCOL"


@_register
class UnknownMemberId(KraftError):
    code = 25
    name = "UNKNOWN_MEMBER_ID"


@_register
class InvalidSessionTimeout(KraftError):
    code = 26
    name = "INVALID_SESSION_TIMEOUT"


@_register
class RebalanceInProgress(KraftError):
    code = 27
    name = "REBALANCE_IN_PROGRESS"


@_register
class NonEmptyGroup(KraftError):
    code = 68
    name = "NON_EMPTY_GROUP"


@_register
class GroupIdNotFound(KraftError):
    code = 69
    name = "GROUP_ID_NOT_FOUND"


@_register
class GroupSubscribedToTopic(KraftError):
    """OffsetDelete of a partition whose topic a member of the (active) group subscribes to."""

    code = 86
    name = "GROUP_SUBSCRIBED_TO_TOPIC"


@_register
class FencedInstanceId(KraftError):
    """A static member (``group.instance.id``) whose place was taken by a newer member with the same
    instance id: the older one must stop (KIP-345)."""

    code = 82
    name = "FENCED_INSTANCE_ID"


@_register
class FencedMemberEpoch(KraftError):
    """A consumer-protocol member (KIP-848) heartbeat or commit with a member epoch the coordinator
    does not hold for it: it lost its partitions and must rejoin with epoch 0."""

    code = 110
    name = "FENCED_MEMBER_EPOCH"


@_register
class UnreleasedInstanceId(KraftError):
    """A static consumer-protocol member joined with an instance id another live member still holds
    (it has not left with member epoch -2, nor timed out)."""

    code = 111
    name = "UNRELEASED_INSTANCE_ID"


@_register
class UnsupportedAssignor(KraftError):
    """A consumer-protocol member named a server assignor the coordinator does not have."""

    code = 112
    name = "UNSUPPORTED_ASSIGNOR"


@_register
class StaleMemberEpoch(KraftError):
    """A consumer-protocol member's commit made at an older member epoch than the one it now holds
    (a rebalance moved it on): it may retry with its current epoch."""

    code = 113
    name = "STALE_MEMBER_EPOCH"
    retriable = True


@_register
class InvalidProducerEpoch(KraftError):
    """A batch from an older epoch of a producer that has since moved to a newer one (fenced)."""

    code = 47
    name = "INVALID_PRODUCER_EPOCH"


@_register
class OutOfOrderSequence(KraftError):
    """An idempotent producer's batch skipped a sequence number (an earlier batch is missing)."""

    code = 45
    name = "OUT_OF_ORDER_SEQUENCE_NUMBER"


@_register
class UnknownProducerId(KraftError):
    code = 59
    name = "UNKNOWN_PRODUCER_ID"


@_register
class TooManyInFlight(KraftError):
    """A connection has ``max_in_flight_requests`` requests unanswered; wait for answers first."""

    code = 1005
    name = "TOO_MANY_IN_FLIGHT"
    retriable = True


@_register
class StorageError(KraftError):
    """A replica found a damaged batch on disk; it is repairing it from another replica."""

    code = 56
    name = "KAFKA_STORAGE_ERROR"
    retriable = True


@_register
class OffsetMetadataTooLarge(KraftError):
    """A committed offset's metadata string is longer than the coordinator keeps."""

    code = 12
    name = "OFFSET_METADATA_TOO_LARGE"


@_register
class FencedLeaderEpoch(KraftError):
    """The request names a leader epoch older than the partition's leader's: the client's metadata
    is stale (it refreshes it and asks again)."""

    code = 74
    name = "FENCED_LEADER_EPOCH"
    retriable = True


@_register
class UnknownLeaderEpoch(KraftError):
    """The request names a leader epoch newer than this leader's: this node has not caught up with
    the election the client has heard of yet."""

    code = 75
    name = "UNKNOWN_LEADER_EPOCH"
    retriable = True


@_register
class FetchSessionIdNotFound(KraftError):
    """An incremental fetch names a fetch session this node does not have (never created here,
    evicted, or closed): the consumer starts a new session with a full fetch (KIP-227)."""

    code = 70
    name = "FETCH_SESSION_ID_NOT_FOUND"
    retriable = True


@_register
class InvalidFetchSessionEpoch(KraftError):
    """An incremental fetch's session epoch is not the one its session expects next (a lost or
    repeated fetch): the consumer starts a new session with a full fetch (KIP-227)."""

    code = 71
    name = "INVALID_FETCH_SESSION_EPOCH"
    retriable = True


@_register
class UnknownTopicId(KraftError):
    """A request names a topic by a Kafka topic id no topic has (deleted, or never created)."""

    code = 100
    name = "UNKNOWN_TOPIC_ID"
    retriable = True


@_register
class UnsupportedCompressionType(KraftError):
    """A Kafka record batch uses a codec whose optional package is not installed here."""

    code = 76
    name = "UNSUPPORTED_COMPRESSION_TYPE"


@_register
class MemberIdRequired(KraftError):
    """A new member's first JoinGroup (v4+, KIP-394): the coordinator names it, and it joins again with
    that member id, so a join the client gave up on leaves no member behind."""

    code = 79
    name = "MEMBER_ID_REQUIRED"


@_register
class InvalidRegularExpression(KraftError):
    """A consumer-protocol member's topic regex (ConsumerGroupHeartbeat v1) does not compile as RE2."""

    code = 128
    name = "INVALID_REGULAR_EXPRESSION"


@_register
class PreferredLeaderNotAvailable(KraftError):
    """A partition's preferred replica did not take leadership: it is down, cut off from the leader,
    a learner catching up, or behind the leader's log until the deadline."""

    code = 80
    name = "PREFERRED_LEADER_NOT_AVAILABLE"
    retriable = True


@_register
class EligibleLeadersNotAvailable(KraftError):
    """No replica may be made leader: a partition without a leader has no majority of its replicas
    (kraft never elects an unclean leader, which Raft could not do without losing writes)."""

    code = 83
    name = "ELIGIBLE_LEADERS_NOT_AVAILABLE"
    retriable = True


@_register
class ElectionNotNeeded(KraftError):
    """The partition's preferred replica leads it already."""

    code = 84
    name = "ELECTION_NOT_NEEDED"


@_register
class BrokerIdNotRegistered(KraftError):
    """The node named is not registered in the cluster (it never started, or the id is wrong)."""

    code = 102
    name = "BROKER_ID_NOT_REGISTERED"


@_register
class NotEnoughNodes(KraftError):
    """Too few nodes would remain to hold some topic's replication factor (a decommission or a
    rebalance that would need them): add nodes first."""

    code = 1006
    name = "NOT_ENOUGH_NODES"


def error_for_code(code: int, message: str = "", **details: object) -> KraftError:
    """The error instance a client raises for a wire ``code`` (unknown codes stay readable)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        err = KraftError(f"unknown error code {code}: {message}")
        return err
    return cls(message, **details)


def all_error_classes() -> dict[int, type[KraftError]]:
    """Every registered error class by code (for tests and docs)."""
    return dict(_BY_CODE)
