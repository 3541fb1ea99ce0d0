"""How a node starts from its disk and its peers' hellos (kraft.node.identity), table-driven."""

from __future__ import annotations

import pytest

from kraft.errors import ConfigError
from kraft.log.memory_store import MemoryStore
from kraft.node import identity
from kraft.node.identity import NodeIdentity, PeerHello, Start, decide_start

FRESH = PeerHello(None)
FORMATTED = PeerHello("d-old")
FOUNDER_NAMING_1 = PeerHello("d-2", pending=(1, 3))
FOUNDER_NAMING_OTHERS = PeerHello("d-2", pending=(3,))
MINE = NodeIdentity(1, "d-1")

CASES = [
    # (own identity, disk empty, peers' hellos, cluster size, start)
    (MINE, False, {}, 3, Start.KNOWN),
    (None, False, {}, 3, Start.FORMAT),  # a disk from before identities: it holds Raft state
    (None, True, {}, 1, Start.NEW_CLUSTER),  # a single-node cluster founds alone
    (None, True, {}, 3, Start.WAIT),
    (None, True, {2: FRESH}, 3, Start.NEW_CLUSTER),  # a majority, all empty
    (None, True, {2: FRESH}, 5, Start.WAIT),
    (None, True, {2: FRESH, 3: FRESH}, 5, Start.NEW_CLUSTER),
    (None, True, {2: FORMATTED}, 3, Start.REJOIN),  # the cluster exists: a lost disk
    (None, True, {2: FRESH, 3: FORMATTED}, 3, Start.REJOIN),
    (None, True, {2: FOUNDER_NAMING_1}, 3, Start.NEW_CLUSTER),  # a founder counted on this node
    (None, True, {2: FOUNDER_NAMING_OTHERS}, 3, Start.REJOIN),
    (None, True, {2: FOUNDER_NAMING_OTHERS, 3: PeerHello("d-3", pending=(1,))}, 3, Start.NEW_CLUSTER),
    # a node added after the cluster formed (in no peer's cluster.ini): peers with data, none naming it
    (None, True, {2: PeerHello("d-2", "c-1"), 3: PeerHello("d-3", "c-1")}, 4, Start.REJOIN),
    (None, True, {2: PeerHello("d-2", "c-1")}, 8, Start.REJOIN),  # one peer with data is enough to tell
]


@pytest.mark.parametrize(("own", "empty", "peers", "size", "start"), CASES)
def test_start_decision(own: NodeIdentity | None, empty: bool, peers: dict[int, PeerHello], size: int,
                        start: Start) -> None:
    every_node_votes = range(1, size + 1)
    assert decide_start(1, own, empty, peers, size, every_node_votes) is start


# 7 nodes, metadata voters 1-3: node 7 decides (peers' hellos by node id, all empty unless said)
SEVEN_NODES_THREE_VOTERS = [
    ((4, 5, 6), Start.WAIT),  # a majority of the cluster, no voter: late voters would all be learners
    ((2, 4, 5), Start.WAIT),  # one voter of three
    ((1, 2, 5), Start.NEW_CLUSTER),
    ((1, 2, 3), Start.NEW_CLUSTER),
    ((1, 2), Start.WAIT),  # voters enough, the cluster not
    ((1, 2, 3, 4, 5, 6), Start.NEW_CLUSTER),
]


@pytest.mark.parametrize(("fresh_peers", "start"), SEVEN_NODES_THREE_VOTERS)
def test_founders_include_a_majority_of_the_metadata_voters(fresh_peers: tuple[int, ...], start: Start) -> None:
    peers = {p: FRESH for p in fresh_peers}
    assert decide_start(7, None, True, peers, 7, [1, 2, 3]) is start


def test_a_data_directory_of_another_node_is_refused() -> None:
    with pytest.raises(ConfigError, match="belongs to node 2"):
        decide_start(1, NodeIdentity(2, "d"), False, {}, 3, [1, 2, 3])


def test_a_founder_lists_its_empty_co_founders_until_it_hears_them() -> None:
    hellos = {2: FRESH, 3: FORMATTED}
    founder = identity.starting_identity(1, Start.NEW_CLUSTER, None, "d-1", hellos)
    assert founder.pending == (2,) and not founder.rejoining
    assert founder.heard(2).pending == ()
    rejoiner = identity.starting_identity(1, Start.REJOIN, None, "d-1", hellos)
    assert rejoiner.rejoining and rejoiner.pending == ()


def test_identity_survives_on_the_disk_and_an_empty_disk_is_told_apart() -> None:
    store = MemoryStore(fsync=True)
    assert identity.load(store) is None and identity.disk_empty(store)
    mine = NodeIdentity(1, "d-1", "c-1", rejoining=True, pending=(2, 3))
    identity.save(store, mine)
    store.commit()
    assert identity.load(store) == mine
    assert not identity.disk_empty(store), "an identity row alone already marks the disk as used"


def test_a_new_cluster_id_is_kafkas_form_and_kept_with_the_identity() -> None:
    ids = {identity.new_cluster_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(c) == 22 and all(ch.isalnum() or ch in "-_" for ch in c) for c in ids)  # base64url, no padding
    store = MemoryStore(fsync=True)
    mine = identity.with_cluster(NodeIdentity(1, "d-1"), "c-1")
    identity.save(store, mine)
    store.commit()
    assert identity.load(store) == NodeIdentity(1, "d-1", "c-1")
