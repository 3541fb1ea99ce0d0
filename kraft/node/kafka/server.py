"""The Kafka-protocol front end: an asyncio TCP server that turns Kafka requests into broker calls.

Owns: Kafka connections, their ordering rule (answers leave in request order, however many requests
run at once: Kafka clients match answers to requests by position), answers to requests no handler
takes (a v0 response header and UNSUPPORTED_VERSION as the first field; an ApiVersions of a newer
version gets the full v0 answer with the supported list, KIP-511, so the client retries with v0),
each request's ``KafkaContext`` (with the listener's fetch session cache), a failed request's answer (its kraft error as
``kraft.node.kafka.error_codes`` maps it), and the per-connection limits shared with the native server.
Must not: hold domain logic (handlers and the broker do).
"""

from __future__ import annotations

import asyncio
import logging
import time

from kraft import errors
from kraft.node import logs
from kraft.node.context import NodeServices
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import UNKNOWN_SERVER_ERROR, kafka_code
from kraft.node.kafka.fetch_sessions import FetchSessions
from kraft.node.kafka.handlers import HANDLERS, supported_versions
from kraft.node.kafka.handlers._common import CloseConnection
from kraft.node.listener import READ_CHUNK_BYTES, Listener
from kraft.node.stats import RequestStats
from kraft.protocol.kafka.codec import (
    API_VERSIONS_KEY,
    UNSUPPORTED_VERSION,
    KafkaFrameDecoder,
    UnsupportedApi,
    decode_request,
    encode_response,
    encode_unsupported,
    peek_header,
)

log = logging.getLogger(__name__)

INVALID_REQUEST = kafka_code(errors.InvalidRequest)
PRODUCE_KEY = 0
FETCH_KEY = 1
CLOSE = b""  # an "answer" that closes the connection instead (never a real frame, which has a size prefix)


def _api_name(handler: object) -> str:
    """A handler module's API name as metrics and logs say it (``produce``, ``join_group``)."""
    return str(getattr(handler, "__name__", "unknown")).rpartition(".")[2]


API_NAMES = {key: _api_name(handler) for key, handler in HANDLERS.items()}


class KafkaServer(Listener):
    front_end = "kafka"

    def __init__(self, services: NodeServices, host: str, port: int, max_frame_bytes: int, max_connections: int,
                 max_in_flight: int = 256, max_buffer_bytes: int = 64 << 20, stats: RequestStats | None = None,
                 *, max_fetch_sessions: int = 1000) -> None:
        super().__init__(services, host, port, max_frame_bytes, max_connections, max_in_flight, max_buffer_bytes,
                         stats)
        self.fetch_sessions = FetchSessions(max_fetch_sessions)  # KIP-227, one cache per node

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        decoder = KafkaFrameDecoder(self.max_frame_bytes)
        # Answers in request order: a bounded queue of running requests, drained by one writer task.
        # When it is full the reader waits (Kafka clients bound their own in-flight requests anyway).
        pending: asyncio.Queue[asyncio.Task[bytes | None] | None] = asyncio.Queue(self.max_in_flight)
        sender = asyncio.create_task(self._send_in_order(writer, pending))
        tasks: set[asyncio.Task[bytes | None]] = set()
        host = peer[0] if isinstance(peer, tuple) else ""
        client = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        try:
            while not sender.done():
                data = await reader.read(READ_CHUNK_BYTES)
                if not data:
                    break
                decoder.feed(data)
                while (frame := decoder.next_frame()) is not None:
                    task = asyncio.create_task(self._answer(frame, host, client))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    await pending.put(task)
        except (errors.MalformedFrame, errors.FrameTooLarge) as e:
            # The stream cannot be resynchronised after a bad size prefix: Kafka closes it too.
            log.warning("closing Kafka connection from %s: %s", peer, e)
        except (ConnectionError, OSError):
            pass
        finally:
            if not sender.done():
                try:
                    pending.put_nowait(None)  # answer what was asked, then close
                    await asyncio.wait_for(asyncio.shield(sender), 30)
                except (asyncio.QueueFull, TimeoutError):
                    pass
            sender.cancel()
            for task in tasks:
                task.cancel()
            writer.close()

    async def _send_in_order(self, writer: asyncio.StreamWriter,
                             pending: asyncio.Queue[asyncio.Task[bytes | None] | None]) -> None:
        while (task := await pending.get()) is not None:
            answer = await task
            if answer is None:
                continue  # Produce with acks=0: Kafka sends no answer
            if answer == CLOSE:
                writer.close()  # a failed acks=0 Produce: what came before it has been written
                return
            if writer.is_closing() or self.unread_answers_over_limit(writer):
                return
            writer.write(answer)

    async def _answer(self, frame: bytes, host: str, client: str = "") -> bytes | None:
        """The answer's bytes, counted in the request metrics (per API; failures by kraft error name)."""
        api_key, api_version, _ = peek_header(frame)
        client = client or host
        api = API_NAMES.get(api_key, "unknown")
        stats = self.stats
        stats.started(self.front_end)
        started = time.perf_counter()
        failure: list[errors.KraftError] = []  # what _handle answered with, if it failed
        try:
            answer = await self._handle(frame, host, client, api, failure)
        except asyncio.CancelledError:
            stats.abandoned(self.front_end)  # its connection closed: no answer, nothing to count
            raise
        stats.finished(self.front_end, api, time.perf_counter() - started, failure[0].name if failure else None,
                       api_version)
        if api_key == PRODUCE_KEY:
            stats.size(self.front_end, "produce", len(frame))
        elif api_key == FETCH_KEY and answer:
            stats.size(self.front_end, "fetch", len(answer))
        return answer

    async def _handle(self, frame: bytes, host: str, client: str, api: str,
                      failure: list[errors.KraftError]) -> bytes | None:
        api_key, api_version, cid = peek_header(frame)
        handler = HANDLERS.get(api_key)
        if handler is None or not handler.MIN_VERSION <= api_version <= handler.MAX_VERSION:
            failure.append(errors.UnsupportedRequest(f"api key {api_key} v{api_version} is not supported"))
            return _unsupported(api_key, api_version, cid)
        try:
            request = decode_request(frame)
        except (UnsupportedApi, errors.MalformedFrame) as e:
            failure.append(errors.InvalidRequest(str(e)))
            logs.request_error(self.front_end, api, client, "", failure[0])
            return _error_answer(api_key, api_version, cid, INVALID_REQUEST)
        client_id = request.client_id or ""
        ctx = KafkaContext(self.services, host, client_id, api_version, self.fetch_sessions)
        # A Produce with acks=0 is never answered: the client would take an error answer for the
        # answer to its next request. Any failure closes the connection instead, as Kafka does.
        unanswered = api_key == PRODUCE_KEY and request.body.get("acks") == 0
        try:
            body = await handler.handle(ctx, request.body)
        except asyncio.CancelledError:
            raise
        except CloseConnection as e:
            log.info("closing Kafka connection from %s (client id %r): %s", client, client_id, e)
            return CLOSE
        except errors.KraftError as e:
            failure.append(e)
            logs.request_error(self.front_end, api, client, client_id, e)
            if unanswered:
                return CLOSE
            return _error_answer(api_key, api_version, cid, kafka_code(e))
        except Exception:
            failure.append(errors.KraftError(f"api key {api_key} v{api_version}: internal error"))
            logs.request_error(self.front_end, api, client, client_id, failure[0], unexpected=True)
            return CLOSE if unanswered else _error_answer(api_key, api_version, cid, UNKNOWN_SERVER_ERROR)
        if body is None:
            return None
        try:
            return encode_response(api_key, api_version, cid, body)
        except Exception:  # a value the version cannot carry: still answer, or the client waits forever
            log.exception("Kafka answer to api key %d v%d does not encode", api_key, api_version)
            return _error_answer(api_key, api_version, cid, UNKNOWN_SERVER_ERROR)


def _unsupported(api_key: int, api_version: int, cid: int) -> bytes:
    if api_key == API_VERSIONS_KEY:
        return encode_response(API_VERSIONS_KEY, 0, cid, {"error_code": UNSUPPORTED_VERSION,
                                                          "api_keys": supported_versions()})
    # Not every response layout has an error code up front, and a client never sends what was not
    # advertised: one rule for all, a v0 header and UNSUPPORTED_VERSION as the first field.
    return encode_unsupported(cid)


def _error_answer(api_key: int, api_version: int, cid: int, code: int) -> bytes:
    """The API's own response carrying ``code`` where it has a top-level error field (every list
    empty); for a (key, version) with no known response layout, a bare error code."""
    try:
        return encode_response(api_key, api_version, cid, {"error_code": code})
    except UnsupportedApi:
        return encode_unsupported(cid)


