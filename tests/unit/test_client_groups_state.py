"""Pure pieces of the group consumer: subscription, commit bookkeeping, membership transitions."""

from __future__ import annotations

import doctest

import pytest

from kraft.apis.consumer import membership, subscription
from kraft.apis.consumer.membership import Action, Membership, action_for, parse_assignment
from kraft.apis.consumer.subscription import CommitTracker, Subscription
from kraft.apis.types import TopicPartition
from kraft.errors import (
    CoordinatorNotAvailable,
    IllegalGeneration,
    InvalidRequest,
    KraftConnectionError,
    KraftError,
    NotCoordinator,
    RebalanceInProgress,
    RequestTimedOut,
    UnknownMemberId,
)

pytestmark = pytest.mark.timeout(10)
A0, A1, B0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)


@pytest.mark.parametrize("module", [membership, subscription])
def test_doctests(module):
    assert doctest.testmod(module).failed == 0


# --- Subscription ---------------------------------------------------------------------------------


def test_subscription_sorts_and_dedups_and_rejects_bad_names():
    assert Subscription.of(["b", "a", "b"]).topics == ("a", "b")
    with pytest.raises(ValueError):
        Subscription.of(["a", ""])


def test_subscription_never_changed_before_the_first_join():
    s = Subscription.of(["a"])
    assert not s.changed({"a": 3})
    assert s.missing() == ()


def test_subscription_changes_when_a_topic_appears_grows_or_goes():
    s = Subscription.of(["a", "b"]).joined({"a": 2})
    assert s.missing() == ("b",)
    assert not s.changed({"a": 2, "c": 9})  # unsubscribed topics do not matter
    assert s.changed({"a": 2, "b": 1})  # appeared
    assert s.changed({"a": 3})  # grew
    assert s.changed({})  # deleted


# --- CommitTracker --------------------------------------------------------------------------------


def test_tracker_sends_only_moved_known_positions():
    t = CommitTracker()
    t.known({A0: 5, A1: None})
    assert t.pending({A0: 5, A1: 0, B0: None}) == {A1: 0}
    t.committed({A1: 0})
    assert t.pending({A0: 7, A1: 0}) == {A0: 7}
    assert t.get(A0) == 5 and t.get(B0) is None


def test_tracker_forgets_what_offset_fetch_says_is_gone_and_unassigned_partitions():
    t = CommitTracker()
    t.committed({A0: 5, A1: 6})
    t.known({A0: None})
    t.retain([A1])
    assert t.get(A0) is None and t.get(A1) == 6
    t.retain([])
    assert t.pending({A1: 6}) == {A1: 6}


# --- Membership -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("error", "action"), [
    (RebalanceInProgress(), Action.REJOIN),
    (IllegalGeneration(), Action.REJOIN),
    (UnknownMemberId(), Action.REJOIN),
    (NotCoordinator(), Action.FIND_COORDINATOR),
    (CoordinatorNotAvailable(), Action.FIND_COORDINATOR),
    (KraftConnectionError(), Action.FIND_COORDINATOR),
    (RequestTimedOut(), Action.FIND_COORDINATOR),
    (InvalidRequest(), Action.RETRY),
])
def test_error_actions(error, action):
    assert action_for(error) is action


def test_new_membership_must_join_and_commits_as_administrator():
    m = Membership()
    assert m.rejoin_needed and not m.in_group and not m.stable
    assert m.commit_identity() == ("", -1)


def test_join_then_rebalance_keeps_generation_for_the_revoke_commit():
    m = Membership()
    m.joining = True
    m.joined("m-1", 4, (A0,))
    assert m.stable and m.commit_identity() == ("m-1", 4)
    assert m.failed(RebalanceInProgress()) is Action.REJOIN
    assert m.rejoin_needed and not m.stable
    assert m.commit_identity() == ("m-1", 4)  # the coordinator accepts it during the rebalance
    assert m.rejoin_reason == "REBALANCE_IN_PROGRESS"


def test_unknown_member_forgets_the_member_id():
    m = Membership()
    m.joined("m-1", 4, ())
    m.failed(UnknownMemberId())
    assert (m.member_id, m.generation, m.rejoin_needed) == ("", -1, True)


def test_coordinator_errors_do_not_ask_for_a_rejoin():
    m = Membership()
    m.joined("m-1", 1, ())
    assert m.failed(NotCoordinator()) is Action.FIND_COORDINATOR
    assert m.stable


def test_left_and_joined_validation():
    m = Membership()
    m.joined("m-1", 1, ())
    m.left("max_poll_interval_ms exceeded")
    assert not m.in_group and m.rejoin_needed and m.rejoin_reason == "max_poll_interval_ms exceeded"
    with pytest.raises(KraftError):
        m.joined("", 2, ())


def test_parse_assignment():
    assert parse_assignment([["b", 0], ["a", 1], ["a", 0], ["a", 0]]) == (A0, A1, B0)
    for bad in [None, [["a"]], [["a", "0"]], [[1, 0]], [["a", True]]]:
        with pytest.raises(KraftError):
            parse_assignment(bad)


# --- CLI format -----------------------------------------------------------------------------------


def test_group_table_rows_and_json():
    from kraft import cli_format as fmt
    from kraft.apis.types import GroupDescription, MemberInfo, PartitionOffsets

    d = GroupDescription("billing", "Stable", 3,
                         [MemberInfo("m-1", "c", "127.0.0.1", [A0])],
                         [PartitionOffsets("a", 0, 5, 9, 4), PartitionOffsets("a", 1, None, 2, None)])
    assert fmt.group_summary(d) == "group billing: Stable, generation 3, 1 member"
    assert fmt.group_offset_rows(d) == [["a", 0, "m-1", 5, 9, 4], ["a", 1, None, None, 2, None]]
    table = fmt.render_table(fmt.GROUP_OFFSET_HEADERS, fmt.group_offset_rows(d)).splitlines()
    assert table[0].split() == ["topic", "partition", "member", "committed", "end", "offset", "lag"]
    assert table[2].split() == ["a", "1", "-", "-", "2", "-"]
    j = fmt.group_json(d)
    assert j["offsets"][0] == {"topic": "a", "partition": 0, "member": "m-1", "committed": 5, "end_offset": 9,
                               "lag": 4}
    assert j["members"][0]["assignment"] == [["a", 0]]
