"""The Kafka front end's answer rules, without a node: a handler's failure still gets an answer (or,
for a Produce with acks=0, which is never answered, a closed connection), and an answer that cannot
be encoded becomes UNKNOWN_SERVER_ERROR instead of silence."""

from __future__ import annotations

import asyncio
import io
import struct
from types import SimpleNamespace
from typing import Any

import pytest
from kio.index import load_request_schema
from kio.serial import entity_writer

from kraft import errors
from kraft.node.kafka import server
from kraft.protocol.kafka.codec import build


def frame(key: int, version: int, body: dict[str, Any], cid: int = 9) -> bytes:
    schema = load_request_schema(key, version)
    out = io.BytesIO()
    header_cls = schema.__header_schema__
    entity_writer(header_cls)(out, build(header_cls, {"request_api_key": key, "request_api_version": version,
                                                      "correlation_id": cid, "client_id": "t"}))
    entity_writer(schema)(out, build(schema, body))
    return out.getvalue()


def answer(monkeypatch: pytest.MonkeyPatch, key: int, version: int, body: dict[str, Any],
           handle: Any) -> bytes | None:
    fake = SimpleNamespace(API_KEY=key, MIN_VERSION=version, MAX_VERSION=version, handle=handle)
    monkeypatch.setitem(server.HANDLERS, key, fake)
    srv = server.KafkaServer(None, "127.0.0.1", 0, 1 << 20, 10)
    return asyncio.run(srv._answer(frame(key, version, body), "h"))


def produce_body(acks: int) -> dict[str, Any]:
    return {"acks": acks, "timeout": 1000, "transactional_id": None,
            "topic_data": [{"name": "t", "partition_data": [{"index": 0, "records": b""}]}]}


@pytest.mark.parametrize("exc", [errors.NotLeader("moved"), RuntimeError("bug")])
def test_a_failed_acks0_produce_closes_instead_of_answering(monkeypatch: pytest.MonkeyPatch,
                                                            exc: Exception) -> None:
    async def failing(ctx: Any, request: dict[str, Any]) -> None:
        raise exc

    assert answer(monkeypatch, 0, 7, produce_body(0), failing) == server.CLOSE
    acked = answer(monkeypatch, 0, 7, produce_body(-1), failing)
    assert acked and struct.unpack_from(">i", acked, 4)[0] == 9  # with acks, an error answer


def test_an_unencodable_answer_becomes_unknown_server_error(monkeypatch: pytest.MonkeyPatch) -> None:
    async def overflowing(ctx: Any, request: dict[str, Any]) -> dict[str, Any]:
        return {"error_code": 0, "throttle_time": 2**40}

    got = answer(monkeypatch, 12, 1, {"group_id": "g", "generation_id": 1, "member_id": "m"}, overflowing)
    assert got is not None
    size, cid, _throttle, code = struct.unpack(">iiih", got)
    assert (size, cid, code) == (len(got) - 4, 9, -1)
