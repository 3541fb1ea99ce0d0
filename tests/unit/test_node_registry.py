"""The node registry's HTTP ports (issue 15): a node announces its ``http_port`` with its other
listeners; the row keeps it across a restart and a snapshot; registrations and rows from before it
was announced load as none (and such a registration writes the row it always wrote); clients read it
from the metadata answer, and ``http_addresses`` prefers what nodes announced over a config."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from kraft.apis.client_core import ClusterMetadata
from kraft.apis.types import NodeDescription
from kraft.log.memory_store import MemoryStore
from kraft.log.rows import MetadataRows
from kraft.log.store import DB_PSTATE, gid_key
from kraft.metrics_client import http_addresses
from kraft.state.metadata import METADATA_GID, MetadataMachine, encode_command

OLD = {"id": 1, "host": "h", "client_port": 9192, "raft_port": 9193, "rack": None, "kafka_port": 9092}


def register(**fields: Any) -> bytes:
    return encode_command("register_node", **{**OLD, **fields})


def node_row(store: MemoryStore, node_id: int) -> dict[str, Any]:
    raw = store.get(DB_PSTATE, gid_key(METADATA_GID) + b"n" + node_id.to_bytes(8, "big"))
    assert raw is not None
    row: dict[str, Any] = msgpack.unpackb(raw, raw=False)
    return row


def test_an_announced_http_port_is_kept_across_a_restart_and_a_snapshot() -> None:
    store = MemoryStore()
    m = MetadataMachine(MetadataRows(store, METADATA_GID))
    m.apply(1, register(http_port=9194))
    m.apply(2, register(id=2, http_port=None))  # a node without an HTTP listener says so
    store.commit()
    restarted = MetadataMachine(MetadataRows(store, METADATA_GID))
    assert restarted.view.nodes[1].http_port == 9194 and restarted.view.nodes[2].http_port is None
    follower_store = MemoryStore()
    follower = MetadataMachine(MetadataRows(follower_store, METADATA_GID))
    follower.install(m.state(), {})
    follower_store.commit()
    assert MetadataMachine(MetadataRows(follower_store, METADATA_GID)).view.nodes[1].http_port == 9194


def test_a_registration_from_before_http_ports_writes_the_row_it_always_wrote() -> None:
    """A journal written by an older node replays to the same row bytes (no ``http_port`` key)."""
    store = MemoryStore()
    m = MetadataMachine(MetadataRows(store, METADATA_GID))
    m.apply(1, register())
    store.commit()
    assert node_row(store, 1) == {k: v for k, v in OLD.items() if k != "id"}
    assert m.view.nodes[1].http_port is None
    m.apply(2, register(http_port=9194))  # the node restarted on a new version: it announces it
    store.commit()
    assert node_row(store, 1)["http_port"] == 9194 and m.view.nodes[1].http_port == 9194
    m.apply(3, register())  # and back on the old version: an old registration knows no HTTP port
    assert m.view.nodes[1].http_port is None


def test_rows_written_before_http_ports_load_as_none() -> None:
    store = MemoryStore()
    rows = MetadataRows(store, METADATA_GID)
    rows.save_node(1, {"host": "h", "client_port": 1, "raft_port": 2, "rack": None})  # no kafka_port either
    rows.save_applied(7)
    store.commit()
    node = MetadataMachine(MetadataRows(store, METADATA_GID)).view.nodes[1]
    assert (node.host, node.kafka_port, node.http_port) == ("h", None, None)


def metadata_answer(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"nodes": list(nodes), "controller": 1, "topics": [], "cluster_id": "c"}


@pytest.mark.parametrize(("said", "http_port"), [
    ({"http_port": 9194}, 9194),
    ({}, None),  # a node from before it was said
    ({"http_port": None}, None),
    ({"http_port": "9194"}, None),  # not a port: ignored, not a malformed answer
    ({"http_port": 0}, None),
    ({"http_port": True}, None),
])
def test_clients_read_the_http_port_from_the_metadata_answer(said: dict[str, Any], http_port: int | None) -> None:
    meta = ClusterMetadata.from_response(metadata_answer({"id": 1, "host": "h", "port": 9192, **said}), 0.0)
    assert meta.nodes[1].http_port == http_port


def test_http_addresses_prefer_what_nodes_announced_over_a_config() -> None:
    nodes = [NodeDescription(1, "10.0.0.1", 9192, None, 9194), NodeDescription(2, "10.0.0.2", 9192),
             NodeDescription(4, "10.0.0.4", 9192, "r", 8080)]
    configured = {1: "old-host:9194", 2: "10.0.0.2:9194", 3: "10.0.0.3:9194"}
    assert http_addresses(nodes, configured) == {1: "10.0.0.1:9194", 2: "10.0.0.2:9194", 3: "10.0.0.3:9194",
                                                 4: "10.0.0.4:8080"}
    assert http_addresses(nodes) == {1: "10.0.0.1:9194", 4: "10.0.0.4:8080"}
