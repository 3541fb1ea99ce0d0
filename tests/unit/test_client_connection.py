"""The pipelined connection and the client core: out-of-order answers, loss, timeouts, framing."""

from __future__ import annotations

import asyncio

import pytest

from kraft.apis.client_core import ClientCore, parse_bootstrap
from kraft.apis.connection import Connection
from kraft.errors import KraftConnectionError, RequestTimedOut
from kraft.testing import InProcessCluster, wait_until

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def cluster():
    with InProcessCluster(nodes=1) as c:
        c.create_topic("t", partitions=1)
        yield c


def _open(cluster: InProcessCluster) -> tuple[ClientCore, Connection]:
    core = ClientCore(cluster.bootstrap, request_timeout_ms=5000)
    host, port = core.bootstrap[0]

    async def open_() -> Connection:
        return await core.connection((host, port))

    return core, core.run(open_())


def _fetch_body(max_wait_ms: int) -> dict:
    return {"max_wait_ms": max_wait_ms, "min_bytes": 1, "max_bytes": 1 << 20,
            "partitions": [{"topic": "t", "partition": 0, "offset": 0, "max_bytes": 1 << 20}]}


def test_parse_bootstrap():
    assert parse_bootstrap("a:1, b:2,") == [("a", 1), ("b", 2)]
    assert parse_bootstrap(["[::1]:9"]) == [("::1", 9)]
    for bad in ["", "host", "host:x", ":1"]:
        with pytest.raises(ValueError):
            parse_bootstrap(bad)


def test_pipelined_answers_may_come_out_of_order(cluster):
    core, conn = _open(cluster)
    try:
        async def both() -> list[str]:
            order: list[str] = []

            async def call(name: str, api: str, body: dict) -> None:
                await conn.request(api, body, 5000)
                order.append(name)

            await asyncio.gather(call("fetch", "fetch", _fetch_body(300)),
                                 call("versions", "api_versions", {}))
            return order

        assert core.run(both()) == ["versions", "fetch"]
    finally:
        core.close()


def test_many_concurrent_requests(cluster):
    core, conn = _open(cluster)
    try:
        async def many() -> list[int]:
            answers = await asyncio.gather(*(conn.request("api_versions", {}, 5000) for _ in range(200)))
            return [code for code, _ in answers]

        assert core.run(many()) == [0] * 200
    finally:
        core.close()


def test_connection_loss_fails_in_flight_requests(cluster):
    core, conn = _open(cluster)
    try:
        fut = core.submit(conn.request("fetch", _fetch_body(10_000), 20_000))
        wait_until(lambda: cluster.requests["fetch"] >= 1)
        cluster.drop_connections()
        with pytest.raises(KraftConnectionError) as info:
            fut.result(5)
        assert info.value.retriable
        assert conn.closed
        with pytest.raises(KraftConnectionError):
            core.run(conn.request("api_versions", {}, 1000))
        # the core opens a fresh connection for the next request
        assert core.run(core.request_any("api_versions", {}))["node_id"] == 1
    finally:
        core.close()


def test_request_timeout_keeps_connection_usable(cluster):
    core, conn = _open(cluster)
    try:
        cluster.drop_next("api_versions")
        with pytest.raises(RequestTimedOut):
            core.run(conn.request("api_versions", {}, 200))
        assert core.run(conn.request("api_versions", {}, 5000))[0] == 0
        assert not conn.closed
    finally:
        core.close()


def test_connect_refused_is_a_connection_error():
    core = ClientCore("127.0.0.1:1", connect_timeout_ms=1000)
    try:
        with pytest.raises(KraftConnectionError):
            core.run(core.request_any("api_versions", {}))
    finally:
        core.close()


def test_garbage_from_the_node_closes_the_connection():
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"\x00\x00\x00\x01\xc1")  # a frame holding a never-used msgpack byte
        await writer.drain()
        await reader.read(100)

    core = ClientCore("127.0.0.1:9", request_timeout_ms=5000)
    try:
        async def run() -> None:
            server = await asyncio.start_server(garbage, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            try:
                await core.request(("127.0.0.1", port), "api_versions", {})
            finally:
                server.close()

        with pytest.raises(KraftConnectionError, match="bad frame"):
            core.run(run())
    finally:
        core.close()

