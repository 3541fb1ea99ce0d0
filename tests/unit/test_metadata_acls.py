"""ACL bindings in the metadata group: ``create_acls`` and ``delete_acls`` apply alike on every
replica, one row per binding (a create writes the bindings it added, a delete removes the rows of
what it matched, atomically), the view carries them, they survive a restart and travel in snapshots,
and state written before ACLs (no rows, snapshots without them) loads with none."""

from __future__ import annotations

from typing import Any

import msgpack

from kraft import errors
from kraft.log.memory_store import MemoryStore
from kraft.log.rows import MetadataRows
from kraft.log.store import DB_PSTATE, gid_key, prefix_stop
from kraft.state.acls import AclBinding, AclFilter, Operation, PatternType, Permission, ResourceType
from kraft.state.metadata import METADATA_GID, MetadataMachine, encode_command

T = ResourceType.TOPIC
READ = AclBinding(T, "orders", PatternType.LITERAL, "User:*", "*", Operation.READ, Permission.ALLOW)
DENY = AclBinding(T, "orders", PatternType.LITERAL, "User:*", "*", Operation.WRITE, Permission.DENY)
PREFIX = AclBinding(T, "ord", PatternType.PREFIXED, "User:a", "*", Operation.ALL, Permission.ALLOW)
GROUP = AclBinding(ResourceType.GROUP, "g", PatternType.LITERAL, "User:*", "*", Operation.READ, Permission.ALLOW)


def create(*bindings: AclBinding | list[Any]) -> bytes:
    return encode_command("create_acls", acls=[b.row() if isinstance(b, AclBinding) else b for b in bindings])


def delete(*filters: AclFilter) -> bytes:
    return encode_command("delete_acls", filters=[f.row() for f in filters])


def acl_rows(store: MemoryStore) -> list[list[Any]]:
    prefix = gid_key(METADATA_GID) + b"l"
    return sorted(msgpack.unpackb(raw, raw=False) for _, raw in store.scan(DB_PSTATE, prefix, prefix_stop(prefix)))


def test_create_then_delete_by_filter_in_one_entry() -> None:
    store = MemoryStore()
    m = MetadataMachine(MetadataRows(store, METADATA_GID))
    assert m.apply(1, create(READ, DENY, PREFIX, GROUP)) == (0, [[0, None]] * 4)
    assert set(m.view.acls.bindings) == {READ, DENY, PREFIX, GROUP}
    assert len(acl_rows(store)) == 4
    # a binding created again is no change and no error
    version = m.view.version
    assert m.apply(2, create(READ)) == (0, [[0, None]])
    assert m.view.version == version
    # two filters; a binding both match is reported by both and deleted once
    code, results = m.apply(3, delete(AclFilter(T, "orders", PatternType.MATCH), AclFilter(principal="User:a")))
    assert code == 0
    assert [sorted(AclBinding.from_row(r) for r in rows) for _, _, rows in results] == [
        sorted([READ, DENY, PREFIX]), [PREFIX]]
    assert m.view.acls.bindings == (GROUP,)
    assert acl_rows(store) == [GROUP.row()]
    assert m.apply(4, delete(AclFilter(T)))[1] == [[0, None, []]]


def test_invalid_bindings_and_filters_are_refused_one_by_one() -> None:
    m = MetadataMachine()
    bad = AclBinding(T, "", PatternType.LITERAL, "User:*", "*", Operation.READ, Permission.ALLOW)
    code, results = m.apply(1, create(READ, bad, ["not", "a", "binding"]))
    assert code == 0
    assert results[0] == [0, None]
    assert results[1][0] == errors.InvalidRequest.code and results[2][0] == errors.InvalidRequest.code
    assert m.view.acls.bindings == (READ,)
    code, results = m.apply(2, delete(AclFilter(operation=Operation.UNKNOWN), AclFilter()))
    assert results[0][0] == errors.InvalidRequest.code and results[0][2] == []
    assert results[1][2] == [READ.row()]
    assert not m.view.acls.bindings


def test_acls_survive_a_restart_and_a_snapshot_and_replicas_agree() -> None:
    store = MemoryStore()
    m = MetadataMachine(MetadataRows(store, METADATA_GID))
    m.apply(1, create(READ, DENY, PREFIX))
    m.apply(2, delete(AclFilter(operation=Operation.WRITE)))
    restarted = MetadataMachine(MetadataRows(store, METADATA_GID))
    assert set(restarted.view.acls.bindings) == {READ, PREFIX}
    follower_store = MemoryStore()
    follower = MetadataMachine(MetadataRows(follower_store, METADATA_GID))
    follower.apply(1, create(GROUP))  # what the snapshot replaces
    follower.install(m.state(), {})
    assert follower.state() == m.state()
    assert set(follower.view.acls.bindings) == {READ, PREFIX}
    assert acl_rows(follower_store) == sorted([READ.row(), PREFIX.row()])
    again = MetadataMachine(MetadataRows(follower_store, METADATA_GID))
    assert again.state() == m.state()


def test_state_from_before_acls_loads_with_none() -> None:
    m = MetadataMachine(MetadataRows(MemoryStore(), METADATA_GID))
    m.apply(1, encode_command("register_node", id=1, host="h", client_port=1, raft_port=2, rack=None))
    old_snapshot = m.state()
    del old_snapshot["acls"]  # a snapshot sent by a node from before ACLs
    follower = MetadataMachine(MetadataRows(MemoryStore(), METADATA_GID))
    follower.install(old_snapshot, {})
    assert not follower.view.acls.bindings and follower.view.nodes.keys() == {1}
