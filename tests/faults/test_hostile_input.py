"""Random frames and random requests against a live node: it never crashes, never stops answering
others, and every well-framed request gets an answer with an error code rather than a dead socket."""

from __future__ import annotations

import random
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kraft.node.handlers import HANDLERS
from kraft.protocol.frames import encode_request
from kraft.testing.local_cluster import Cluster, RawClient

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(Path(tmp_path_factory.mktemp("hostile")), 1, rf=1)
    try:
        c.start_all()
        code, _ = c.call(1, "create_topic", {"name": "t", "partitions": 2})
        assert code == 0
        c.wait_leaders("t")
        yield c
    finally:
        c.stop_all()


def still_serving(cluster: Cluster) -> None:
    assert cluster.procs[1].poll() is None, "the node died"
    code, body = cluster.call(1, "metadata", {"topics": ["t"]})
    assert code == 0 and body["topics"][0]["error_code"] == 0


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(data=st.binary(min_size=1, max_size=2048))
def test_random_bytes(node: Cluster, data: bytes) -> None:
    s = socket.create_connection(("127.0.0.1", node.client_ports[1]), timeout=5)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass  # whatever it answers, it must finish: a reply or a close
    except (ConnectionError, TimeoutError):
        pass
    finally:
        s.close()
    still_serving(node)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(allow_nan=True),
                    st.text(max_size=20), st.binary(max_size=64))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                        st.dictionaries(st.text(max_size=12), inner, max_size=5)),
                      max_leaves=20)
field_names = st.sampled_from(["topic", "partition", "offset", "entries", "partitions", "batch", "acks",
                               "name", "group_id", "member_id", "generation", "topics", "offsets",
                               "max_wait_ms", "timeout_ms", "replication_factor", "blocked", "loss"])
bodies = st.dictionaries(st.one_of(field_names, st.text(max_size=8)), values, max_size=6)


@SETTINGS
@given(api=st.sampled_from(sorted(HANDLERS)), body=bodies)
def test_well_framed_requests_with_random_bodies_get_answers(node: Cluster, api: str, body: dict) -> None:
    if api in ("delete_topic", "join_group"):
        body.pop("name", None)  # keep the shared topic; joins wait for a rebalance by design
        if api == "join_group":
            return
    client = RawClient(node.client_ports[1])
    try:
        client.sock.settimeout(30)
        client.cid += 1
        client.sock.sendall(encode_request(client.cid, api, body))
        frame = None
        while frame is None:
            frame = client.decoder.next_frame()
            if frame is None:
                data = client.sock.recv(1 << 20)
                assert data, f"{api} {body!r}: the node closed the connection instead of answering"
                client.decoder.feed(data)
        assert frame[0] == client.cid and isinstance(frame[1], int)
    finally:
        client.close()
    still_serving(node)


def test_truncated_and_lying_length_prefixes(node: Cluster) -> None:
    payload = msgpack.packb([1, "metadata", {}])
    for frame in (struct.pack(">I", len(payload) + 10) + payload,  # promises more than it sends
                  struct.pack(">I", 0),
                  b"\x00\x00"):
        s = socket.create_connection(("127.0.0.1", node.client_ports[1]), timeout=5)
        s.sendall(frame)
        s.close()
    still_serving(node)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_memory_stays_bounded_under_garbage(node: Cluster) -> None:
    """Half-sent frames are held at most per connection and freed with it; repeated abuse does not grow."""
    pid = node.procs[1].pid
    rng = random.Random(7)

    def abuse() -> None:
        socks = []
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", node.client_ports[1]), timeout=5)
            s.sendall(struct.pack(">I", 4 * 1024 * 1024) + rng.randbytes(2 * 1024 * 1024))  # half a frame
            socks.append(s)
        still_serving(node)
        for s in socks:
            s.close()
        still_serving(node)

    abuse()
    baseline = rss_bytes(pid)
    for _ in range(5):
        abuse()
    grown = rss_bytes(pid) - baseline
    assert grown < 64 * 1024 * 1024, f"the node grew by {grown / 2**20:.0f} MiB over five rounds of the same abuse"
