"""Pure rules of the Kafka admin APIs: dynamic broker config changes (``kraft.broker_config``), SCRAM
credential checks (``kraft.scram``) and ListGroups' state and type filters."""

from __future__ import annotations

import pytest

from kraft import broker_config, errors, scram
from kraft.broker_config import Source
from kraft.groups.coordinator import GroupListing, select_groups
from kraft.topic_config import AlterOp, ConfigChange

SET, DELETE, APPEND, SUBTRACT = AlterOp.SET, AlterOp.DELETE, AlterOp.APPEND, AlterOp.SUBTRACT


@pytest.mark.parametrize(("current", "changes", "replace", "expected"), [
    ({}, [("sasl.kerberos.min.time.before.relogin", SET, "58000")], False,
     ({"sasl.kerberos.min.time.before.relogin": "58000"}, ())),
    ({}, [("background.threads", SET, " 9 ")], False, ({"background.threads": "9"}, ())),
    ({"background.threads": "9"}, [("background.threads", DELETE, "")], False, ({}, ("background.threads",))),
    # APPEND/SUBTRACT work on the resource's own value, else Kafka's default ("delete")
    ({}, [("log.cleanup.policy", APPEND, "compact")], False, ({"log.cleanup.policy": "compact,delete"}, ())),
    ({"log.cleanup.policy": "compact,delete"}, [("log.cleanup.policy", SUBTRACT, "compact")], False,
     ({"log.cleanup.policy": "delete"}, ())),
    ({}, [("log.cleaner.io.max.bytes.per.second", SET, "1e6")], False,
     ({"log.cleaner.io.max.bytes.per.second": "1000000.0"}, ())),
    ({"num.io.threads": "4"}, [("log.retention.ms", SET, "1000")], True, ({"log.retention.ms": "1000"}, ())),
])
def test_plan_update(current: dict[str, str], changes: list[tuple[str, AlterOp, str]], replace: bool,
                     expected: tuple[dict[str, str], tuple[str, ...]]) -> None:
    update = broker_config.plan_update(current, [ConfigChange(n, op, v) for n, op, v in changes], replace=replace)
    assert (update.set, update.delete) == expected
    assert update.replace is replace


@pytest.mark.parametrize(("changes", "error", "says"), [
    ([("no.such.config", SET, "1")], errors.InvalidConfig, "not a broker config"),
    ([("broker.id", SET, "7")], errors.InvalidRequest, "cannot update these configs dynamically: broker.id"),
    ([("num.partitions", DELETE, None)], errors.InvalidRequest, "num.partitions"),
    ([("background.threads", SET, "0")], errors.InvalidConfig, "out of range"),
    ([("background.threads", SET, "many")], errors.InvalidConfig, "not an integer"),
    ([("background.threads", APPEND, "1")], errors.InvalidConfig, "only for list configs"),
    ([("log.cleanup.policy", SET, "shred")], errors.InvalidConfig, "'shred' is not one of"),
    ([("log.cleanup.policy", SUBTRACT, "delete")], errors.InvalidConfig, "empty item"),
    ([("background.threads", SET, "2"), ("background.threads", DELETE, None)], errors.InvalidRequest, "twice"),
])
def test_plan_update_refusals(changes: list[tuple[str, AlterOp, str | None]], error: type[errors.KraftError],
                              says: str) -> None:
    with pytest.raises(error) as refused:
        broker_config.plan_update({}, [ConfigChange(n, op, v) for n, op, v in changes])
    assert says in refused.value.message


def test_every_dynamic_name_is_unique_and_its_default_valid() -> None:
    names = [d.key.name for d in broker_config.DYNAMIC]
    assert len(names) == len(set(names))
    assert not set(names) & broker_config.READ_ONLY
    for d in broker_config.DYNAMIC:
        broker_config.plan_update({}, [ConfigChange(d.key.name, SET, str(d.key.default))])


def test_describe_levels_and_topic_defaults() -> None:
    dynamic = {"1": {"log.retention.ms": "1000", "background.threads": "9"}, "": {"log.retention.ms": "2000",
                                                                                  "log.retention.bytes": "5"}}
    static = {"retention.ms": 3000, "retention.bytes": 7}
    by_name = {c.key.name: c for c in broker_config.describe(dynamic, "1", static)}
    assert by_name["log.retention.ms"].levels == (
        (Source.DYNAMIC_BROKER, 1000), (Source.DYNAMIC_DEFAULT, 2000), (Source.STATIC, 3000),
        (Source.DEFAULT, 7 * 24 * 3600 * 1000))
    assert (by_name["background.threads"].value, by_name["background.threads"].source) == (9, Source.DYNAMIC_BROKER)
    assert by_name["num.io.threads"].levels == ((Source.DEFAULT, 8),)
    cluster = {c.key.name: c for c in broker_config.describe(dynamic, "", static)}
    assert cluster["log.retention.ms"].source == Source.DYNAMIC_DEFAULT, "the \"\" resource has no broker level"
    assert broker_config.topic_defaults(dynamic, 1, static) == {"retention.ms": 1000, "retention.bytes": 5}
    assert broker_config.topic_defaults(dynamic, 2, static) == {"retention.ms": 2000, "retention.bytes": 5}
    assert broker_config.topic_defaults({"2": {"log.retention.ms": "oops"}}, 2, static) == static, \
        "a stored text this table no longer takes is ignored"


D256, D512 = 1, 2


@pytest.mark.parametrize(("deletions", "upsertions", "refused", "kept_users"), [
    ([], [("alice", D256, 4096)], {}, ["alice"]),
    ([], [("alice", D512, 16384)], {}, ["alice"]),
    ([], [("alice", D256, 4095)], {"alice": errors.UnacceptableCredential}, []),
    ([], [("alice", D256, 16385)], {"alice": errors.UnacceptableCredential}, []),
    ([], [("", D256, 8192)], {"": errors.UnacceptableCredential}, []),
    ([("alice", 3)], [], {"alice": errors.UnsupportedSaslMechanism}, []),
    ([], [("alice", 0, 8192)], {"alice": errors.UnsupportedSaslMechanism}, []),
    # the same user and mechanism twice: that user refused whole, the others go on
    ([("alice", D256)], [("alice", D256, 8192), ("bob", D256, 8192)], {"alice": errors.DuplicateResource}, ["bob"]),
    ([("alice", D256)], [("alice", D512, 8192)], {}, ["alice", "alice"]),  # two mechanisms: fine
])
def test_check_alterations(deletions: list[tuple[str, int]], upsertions: list[tuple[str, int, int]],
                           refused: dict[str, type[errors.KraftError]], kept_users: list[str]) -> None:
    checked = scram.check_alterations([scram.Deletion(u, m) for u, m in deletions],
                                      [scram.Upsertion(u, m, i, b"salt", b"pw") for u, m, i in upsertions])
    assert {u: type(e) for u, e in checked.refused.items()} == refused
    assert [a[0] for a in checked.deletions + checked.upsertions] == kept_users


def test_describe_credentials() -> None:
    stored = {"alice": {"SCRAM-SHA-512": [8192, b"s", b"p"], "SCRAM-SHA-256": [4096, b"s", b"p"]}}
    [alice] = scram.describe(stored, None)
    assert (alice.user, alice.error, alice.credentials) == ("alice", None, ((D256, 4096), (D512, 8192)))
    answers = scram.describe(stored, ["bob", "alice", "alice"])
    assert [(a.user, type(a.error)) for a in answers] == [("bob", errors.ResourceNotFound),
                                                           ("alice", errors.DuplicateResource)]


GROUPS = [GroupListing("a", "consumer", "Empty", "classic"), GroupListing("b", "consumer", "Stable", "classic"),
          GroupListing("c", "consumer", "Reconciling", "consumer"), GroupListing("d", "consumer", "Empty", "consumer")]


@pytest.mark.parametrize(("states", "types", "expected"), [
    ([], [], "abcd"),
    (["Empty"], [], "ad"),
    (["empty", "STABLE"], [], "abd"),  # without case, as Kafka
    ([], ["consumer"], "cd"),
    (["Empty"], ["Classic"], "a"),
    (["Dead"], [], ""),
])
def test_select_groups(states: list[str], types: list[str], expected: str) -> None:
    assert "".join(g.group_id for g in select_groups(GROUPS, states, types)) == expected
