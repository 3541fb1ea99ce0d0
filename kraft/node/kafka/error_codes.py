"""The Kafka front end's error mapping: which Kafka error code a client gets for each kraft error.

One explicit table over every class in ``kraft.errors``. kraft took Kafka's own numbers for the
errors Kafka has (so most rows keep their code; RECORD_TOO_LARGE is Kafka's MESSAGE_TOO_LARGE, 10);
errors only kraft has (framing, local process and client-side errors, 1001 and up) have no Kafka
meaning and go out as UNKNOWN_SERVER_ERROR. A new kraft error class must get a row here (a test
checks), so that what a Kafka client sees for it is a decision, not an accident.
Owns: that table and the lookups handlers and the Kafka server use.
Must not: be used by the native front end (it carries kraft's codes as they are).
"""

from __future__ import annotations

from collections.abc import Mapping

from kraft import errors

NONE = 0
UNKNOWN_SERVER_ERROR = -1

KAFKA_ERROR_CODES: Mapping[type[errors.KraftError], int] = {
    errors.KraftError: UNKNOWN_SERVER_ERROR,
    errors.OffsetOutOfRange: 1,  # OFFSET_OUT_OF_RANGE
    errors.CorruptRecord: 2,  # CORRUPT_MESSAGE
    errors.UnknownTopicOrPartition: 3,  # UNKNOWN_TOPIC_OR_PARTITION
    errors.LeaderNotAvailable: 5,  # LEADER_NOT_AVAILABLE
    errors.NotLeader: 6,  # NOT_LEADER_OR_FOLLOWER
    errors.RequestTimedOut: 7,  # REQUEST_TIMED_OUT
    errors.RecordTooLarge: 10,  # MESSAGE_TOO_LARGE
    errors.OffsetMetadataTooLarge: 12,  # OFFSET_METADATA_TOO_LARGE
    errors.CoordinatorNotAvailable: 15,  # COORDINATOR_NOT_AVAILABLE
    errors.NotCoordinator: 16,  # NOT_COORDINATOR
    errors.InvalidTopic: 17,  # INVALID_TOPIC_EXCEPTION
    errors.NotEnoughReplicas: 19,  # NOT_ENOUGH_REPLICAS
    errors.TopicAuthorizationFailed: 29,  # TOPIC_AUTHORIZATION_FAILED
    errors.GroupAuthorizationFailed: 30,  # GROUP_AUTHORIZATION_FAILED
    errors.ClusterAuthorizationFailed: 31,  # CLUSTER_AUTHORIZATION_FAILED
    errors.IllegalGeneration: 22,  # ILLEGAL_GENERATION
    errors.InconsistentGroupProtocol: 23,  # INCONSISTENT_GROUP_PROTOCOL
    errors.UnknownMemberId: 25,  # UNKNOWN_MEMBER_ID
    errors.InvalidSessionTimeout: 26,  # INVALID_SESSION_TIMEOUT
    errors.RebalanceInProgress: 27,  # REBALANCE_IN_PROGRESS
    errors.UnsupportedRequest: 35,  # UNSUPPORTED_VERSION
    errors.TopicAlreadyExists: 36,  # TOPIC_ALREADY_EXISTS
    errors.InvalidPartitions: 37,  # INVALID_PARTITIONS
    errors.InvalidReplicationFactor: 38,  # INVALID_REPLICATION_FACTOR
    errors.InvalidReplicaAssignment: 39,  # INVALID_REPLICA_ASSIGNMENT
    errors.NoReassignmentInProgress: 85,  # NO_REASSIGNMENT_IN_PROGRESS
    errors.InvalidConfig: 40,  # INVALID_CONFIG
    errors.PolicyViolation: 44,  # POLICY_VIOLATION
    errors.NotController: 41,  # NOT_CONTROLLER
    errors.InvalidRequest: 42,  # INVALID_REQUEST
    errors.OutOfOrderSequence: 45,  # OUT_OF_ORDER_SEQUENCE_NUMBER
    errors.InvalidProducerEpoch: 47,  # INVALID_PRODUCER_EPOCH
    errors.StorageError: 56,  # KAFKA_STORAGE_ERROR
    errors.UnknownProducerId: 59,  # UNKNOWN_PRODUCER_ID
    errors.NonEmptyGroup: 68,  # NON_EMPTY_GROUP
    errors.GroupIdNotFound: 69,  # GROUP_ID_NOT_FOUND
    errors.GroupSubscribedToTopic: 86,  # GROUP_SUBSCRIBED_TO_TOPIC
    errors.UnsupportedSaslMechanism: 33,  # UNSUPPORTED_SASL_MECHANISM
    errors.ResourceNotFound: 91,  # RESOURCE_NOT_FOUND
    errors.DuplicateResource: 92,  # DUPLICATE_RESOURCE
    errors.UnacceptableCredential: 93,  # UNACCEPTABLE_CREDENTIAL
    errors.FencedLeaderEpoch: 74,  # FENCED_LEADER_EPOCH
    errors.UnknownLeaderEpoch: 75,  # UNKNOWN_LEADER_EPOCH
    errors.FetchSessionIdNotFound: 70,  # FETCH_SESSION_ID_NOT_FOUND
    errors.InvalidFetchSessionEpoch: 71,  # INVALID_FETCH_SESSION_EPOCH
    errors.UnknownTopicId: 100,  # UNKNOWN_TOPIC_ID
    errors.FencedInstanceId: 82,  # FENCED_INSTANCE_ID
    errors.FencedMemberEpoch: 110,  # FENCED_MEMBER_EPOCH
    errors.UnreleasedInstanceId: 111,  # UNRELEASED_INSTANCE_ID
    errors.UnsupportedAssignor: 112,  # UNSUPPORTED_ASSIGNOR
    errors.StaleMemberEpoch: 113,  # STALE_MEMBER_EPOCH
    errors.UnsupportedCompressionType: 76,  # UNSUPPORTED_COMPRESSION_TYPE
    errors.MemberIdRequired: 79,  # MEMBER_ID_REQUIRED
    errors.InvalidRegularExpression: 128,  # INVALID_REGULAR_EXPRESSION
    errors.PreferredLeaderNotAvailable: 80,  # PREFERRED_LEADER_NOT_AVAILABLE
    errors.EligibleLeadersNotAvailable: 83,  # ELIGIBLE_LEADERS_NOT_AVAILABLE
    errors.ElectionNotNeeded: 84,  # ELECTION_NOT_NEEDED
    errors.InvalidRecord: 87,  # INVALID_RECORD
    errors.BrokerIdNotRegistered: 102,  # BROKER_ID_NOT_REGISTERED
    # kraft's own: no Kafka counterpart a client would act on.
    errors.FrameTooLarge: UNKNOWN_SERVER_ERROR,  # the connection closes instead
    errors.MalformedFrame: UNKNOWN_SERVER_ERROR,  # likewise
    errors.KraftConnectionError: UNKNOWN_SERVER_ERROR,  # raised in clients, never by a node
    errors.ConfigError: UNKNOWN_SERVER_ERROR,  # likewise
    errors.TooManyInFlight: UNKNOWN_SERVER_ERROR,  # the Kafka server makes its reader wait instead
    errors.NodeProcessError: UNKNOWN_SERVER_ERROR,  # local process control, never on the wire
    errors.NotEnoughNodes: UNKNOWN_SERVER_ERROR,  # kraft's own admin commands only (decommission, rebalance)
}

_BY_KRAFT_CODE: Mapping[int, int] = {cls.code: code for cls, code in KAFKA_ERROR_CODES.items()}


def kafka_code(error: errors.KraftError | type[errors.KraftError]) -> int:
    """The Kafka code for a kraft error (or error class); a subclass without a row of its own gets
    its nearest ancestor's."""
    cls = error if isinstance(error, type) else type(error)
    for klass in cls.__mro__:
        code = KAFKA_ERROR_CODES.get(klass)
        if code is not None:
            return code
    return UNKNOWN_SERVER_ERROR


def kafka_code_for(kraft_code: int) -> int:
    """The Kafka code for a kraft wire code (0, no error, stays 0), for results that carry codes."""
    if kraft_code == NONE:
        return NONE
    return _BY_KRAFT_CODE.get(kraft_code, UNKNOWN_SERVER_ERROR)
