"""An in-process fake kraft cluster speaking the native protocol over an in-memory log.

For kraft's own client tests and for users' tests of code that uses the client::

    with FakeCluster(nodes=3) as cluster:
        cluster.create_topic("orders", partitions=6)
        producer = Producer(cluster.bootstrap)
        ...
        cluster.fail_next("produce", "orders", 0)          # NOT_LEADER_OR_FOLLOWER once
        cluster.set_leader("orders", 0, 2)                  # move a leader
        cluster.drop_next_answer("produce")                 # append, but lose the answer

What it fakes: every node listens on its own 127.0.0.1 port, all share one in-memory state. Each
partition has a leader; other nodes answer NOT_LEADER_OR_FOLLOWER for it. Node 1 is the controller
(create/delete elsewhere answer NOT_CONTROLLER). A produced batch is "committed" at once. What it
does not fake: replication, durability, Raft — use the real node for that. Idempotent producers
work as on a real node: ``init_producer_id`` hands out ids, and a batch with a producer id is
appended only at its next sequence (a retry of one of the last 5 answers with its first offset).

The servers run on one background thread with their own event loop; the control methods may be
called from any thread.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kraft.errors import (
    FrameTooLarge,
    InvalidPartitions,
    InvalidReplicationFactor,
    InvalidRequest,
    InvalidTopic,
    KraftError,
    MalformedFrame,
    NotController,
    NotLeader,
    OffsetOutOfRange,
    OutOfOrderSequence,
    RecordTooLarge,
    TopicAlreadyExists,
    UnknownProducerId,
    UnknownTopicOrPartition,
    UnsupportedRequest,
    error_for_code,
)
from kraft.protocol.batch import BatchHeader, decode_batch, encode_batch, verify_batch
from kraft.protocol.frames import DEFAULT_MAX_FRAME_BYTES, FrameDecoder, decode_request, encode_response

T = TypeVar("T")
Record = tuple[int, int, bytes | None, bytes | None, list[tuple[str, bytes]]]

APIS = ["api_versions", "metadata", "create_topic", "delete_topic", "produce", "fetch", "list_offsets",
        "init_producer_id", "node_status"]
RECENT_BATCHES = 5  # per producer and partition, as kraft.state.partition


@dataclass
class _Partition:
    leader: int | None
    replicas: list[int]
    bases: list[int] = field(default_factory=list)  # base offset of each batch, ascending
    batches: list[bytes] = field(default_factory=list)
    high_watermark: int = 0
    log_start_offset: int = 0
    # producer id -> [next expected sequence, [(base sequence, count, base offset), ...last 5]]
    producers: dict[int, list[Any]] = field(default_factory=dict)


@dataclass
class _NodeServer:
    node_id: int
    port: int = 0
    server: asyncio.Server | None = None
    writers: set[asyncio.StreamWriter] = field(default_factory=set)


class FakeCluster:
    """A fake cluster of ``nodes`` nodes (ids 1..n). ``start()`` or use as a context manager."""

    def __init__(
        self,
        nodes: int = 1,
        *,
        default_partitions: int = 1,
        default_replication_factor: int = 1,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        host: str = "127.0.0.1",
        max_record_bytes: int | None = None,
    ) -> None:
        """``max_record_bytes``: refuse produced batches over this size with RECORD_TOO_LARGE, as
        a real node does (None: no limit)."""
        if nodes < 1:
            raise ValueError("a cluster has at least one node")
        self.host = host
        self.controller = 1
        self.default_partitions = default_partitions
        self.default_replication_factor = min(default_replication_factor, nodes)
        self.max_frame_bytes = max_frame_bytes
        self.max_record_bytes = max_record_bytes
        self.requests: Counter[str] = Counter()  # api -> requests received, for assertions
        self._nodes = {i: _NodeServer(i) for i in range(1, nodes + 1)}
        self._topics: dict[str, list[_Partition]] = {}
        self._partition_errors: dict[tuple[str, str, int], list[int]] = {}
        self._request_errors: dict[str, list[int]] = {}
        self._dropped: Counter[str] = Counter()
        self._lost_answers: Counter[str] = Counter()
        self._next_producer_id = 1
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kraft-fake-cluster", daemon=True)
        self._appended: asyncio.Event | None = None

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> FakeCluster:
        self._thread.start()
        for node in self._nodes.values():
            self._call(self._start_node, node)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        for node in self._nodes.values():
            self._call(self._stop_node, node)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> FakeCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{self.host}:{n.port}" for n in self._nodes.values())

    @property
    def node_ids(self) -> list[int]:
        return list(self._nodes)

    def address(self, node_id: int) -> str:
        return f"{self.host}:{self._nodes[node_id].port}"

    # --- controls (any thread) --------------------------------------------------------------------

    def create_topic(self, name: str, partitions: int | None = None, replication_factor: int | None = None) -> None:
        self._call(self._create_topic, name, partitions, replication_factor)

    def delete_topic(self, name: str) -> None:
        self._call(self._delete_topic, name)

    def set_leader(self, topic: str, partition: int, leader: int | None) -> None:
        """Move a partition's leadership (None: leaderless, every node answers NOT_LEADER)."""
        def move() -> None:
            self._partition(topic, partition).leader = leader
        self._call(move)

    def leader(self, topic: str, partition: int) -> int | None:
        return self._call(lambda: self._partition(topic, partition).leader)

    def fail_next(self, api: str, topic: str, partition: int, error_code: int = NotLeader.code,
                  times: int = 1) -> None:
        """Answer the next ``times`` requests of ``api`` for that partition with ``error_code``."""
        def arm() -> None:
            self._partition_errors.setdefault((api, topic, partition), []).extend([error_code] * times)
        self._call(arm)

    def fail_next_request(self, api: str, error_code: int, times: int = 1) -> None:
        """Answer the next ``times`` ``api`` requests as a whole with ``error_code``."""
        self._call(lambda: self._request_errors.setdefault(api, []).extend([error_code] * times))

    def drop_next(self, api: str, times: int = 1) -> None:
        """Never answer the next ``times`` ``api`` requests (to exercise request timeouts)."""
        def arm() -> None:
            self._dropped[api] += times
        self._call(arm)

    def drop_next_answer(self, api: str, times: int = 1) -> None:
        """Handle the next ``times`` ``api`` requests (a produce appends) but never answer them: a
        lost answer, as when a leader dies after committing. ``times=0`` answers again from now."""
        def arm() -> None:
            self._lost_answers[api] = self._lost_answers[api] + times if times else 0
        self._call(arm)

    def drop_connections(self, node_id: int | None = None) -> None:
        """Abort every client connection (of one node, or all): in-flight requests are lost."""
        def drop() -> None:
            for node in self._nodes.values():
                if node_id is None or node.node_id == node_id:
                    for w in list(node.writers):
                        w.transport.abort()
        self._call(drop)

    def node_down(self, node_id: int) -> None:
        """Stop a node listening and drop its connections; ``node_up`` restarts it on its port."""
        self._call(self._stop_node, self._nodes[node_id])

    def node_up(self, node_id: int) -> None:
        self._call(self._start_node, self._nodes[node_id])

    def append(self, topic: str, partition: int, values: list[bytes | None], key: bytes | None = None,
               timestamp_ms: int | None = None) -> int:
        """Append one batch directly (no client); returns its base offset."""
        ts = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
        batch = encode_batch([(ts, key, v, []) for v in values])
        return self._call(self._append, self._partition(topic, partition), batch)

    def delete_records(self, topic: str, partition: int, before_offset: int) -> None:
        """Drop whole batches below ``before_offset`` (like retention) and move the log start."""
        def trim() -> None:
            p = self._partition(topic, partition)
            while len(p.bases) > 1 and p.bases[1] <= before_offset:
                del p.bases[0], p.batches[0]
            if p.bases and p.bases[0] + _count(p.batches[0]) <= before_offset:
                del p.bases[0], p.batches[0]
            p.log_start_offset = p.bases[0] if p.bases else p.high_watermark
        self._call(trim)

    def records(self, topic: str, partition: int) -> list[Record]:
        """Every committed record of a partition (offset, timestamp_ms, key, value, headers)."""
        def read() -> list[Record]:
            p = self._partition(topic, partition)
            out: list[Record] = []
            for base, batch in zip(p.bases, p.batches, strict=True):
                out.extend(decode_batch(batch, base))
            return out
        return self._call(read)

    def batch_headers(self, topic: str, partition: int) -> list[tuple[int, BatchHeader]]:
        """(base offset, header) of every batch of a partition: producer ids and sequences."""
        def read() -> list[tuple[int, BatchHeader]]:
            p = self._partition(topic, partition)
            return [(base, verify_batch(batch)) for base, batch in zip(p.bases, p.batches, strict=True)]
        return self._call(read)

    def high_watermark(self, topic: str, partition: int) -> int:
        return self._call(lambda: self._partition(topic, partition).high_watermark)

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        async def wrapper() -> T:
            result = fn(*args)
            if asyncio.iscoroutine(result):
                result = await result
            return result  # type: ignore[no-any-return]
        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(10)

    # --- servers ----------------------------------------------------------------------------------

    async def _start_node(self, node: _NodeServer) -> None:
        if self._appended is None:
            self._appended = asyncio.Event()
        node.server = await asyncio.start_server(
            lambda r, w: self._serve(node, r, w), self.host, node.port, reuse_address=True
        )
        node.port = node.server.sockets[0].getsockname()[1]

    async def _stop_node(self, node: _NodeServer) -> None:
        if node.server is not None:
            node.server.close()
            node.server = None
        for w in list(node.writers):
            w.transport.abort()

    async def _serve(self, node: _NodeServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        node.writers.add(writer)
        decoder = FrameDecoder(self.max_frame_bytes)
        tasks: set[asyncio.Task[None]] = set()
        try:
            while data := await reader.read(65536):
                decoder.feed(data)
                while (frame := decoder.next_frame()) is not None:
                    cid, api, body = decode_request(frame)
                    task = asyncio.ensure_future(self._answer(node, writer, cid, api, body))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
        except (MalformedFrame, FrameTooLarge, ConnectionError):
            pass  # as the doc says: answer nothing, close this connection only
        finally:
            node.writers.discard(writer)
            for task in tasks:
                task.cancel()
            writer.transport.abort()

    async def _answer(self, node: _NodeServer, writer: asyncio.StreamWriter, cid: int, api: str,
                      body: dict[str, Any]) -> None:
        self.requests[api] += 1
        if self._dropped[api] > 0:
            self._dropped[api] -= 1
            return
        try:
            queued = self._request_errors.get(api)
            if queued:
                raise _error(queued.pop(0), "injected")
            handler = getattr(self, f"_api_{api}", None)
            if handler is None or api not in APIS:
                raise UnsupportedRequest(f"unknown api {api!r}")
            code, answer = 0, await handler(node.node_id, body)
        except KraftError as exc:
            code, answer = exc.code, {"message": exc.message, **_wire_details(exc)}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            code, answer = InvalidRequest.code, {"message": f"bad {api} body: {exc!r}"}
        if self._lost_answers[api] > 0:
            self._lost_answers[api] -= 1
            return
        if not writer.transport.is_closing():
            writer.write(encode_response(cid, code, answer))

    # --- state ------------------------------------------------------------------------------------

    def _partition(self, topic: str, partition: int) -> _Partition:
        parts = self._topics.get(topic)
        if parts is None or not (isinstance(partition, int) and 0 <= partition < len(parts)):
            raise UnknownTopicOrPartition(f"{topic}/{partition}")
        return parts[partition]

    def _create_topic(self, name: str, partitions: int | None, rf: int | None) -> tuple[int, int]:
        if not isinstance(name, str) or not name or len(name) > 249 or name in (".", ".."):
            raise InvalidTopic(f"invalid topic name {name!r}")
        if name in self._topics:
            raise TopicAlreadyExists(f"topic {name!r} already exists")
        partitions = self.default_partitions if partitions is None else partitions
        rf = self.default_replication_factor if rf is None else rf
        if partitions < 1:
            raise InvalidPartitions(f"partitions must be >= 1, got {partitions}")
        ids = list(self._nodes)
        if not 1 <= rf <= len(ids):
            raise InvalidReplicationFactor(f"replication factor {rf} with {len(ids)} nodes")
        self._topics[name] = [
            _Partition(ids[p % len(ids)], [ids[(p + r) % len(ids)] for r in range(rf)])
            for p in range(partitions)
        ]
        return partitions, rf

    def _delete_topic(self, name: str) -> None:
        if self._topics.pop(name, None) is None:
            raise UnknownTopicOrPartition(f"topic {name!r} does not exist")

    def _append(self, p: _Partition, batch: bytes) -> int:
        header = verify_batch(batch)
        producer = None
        if header.producer_id >= 0:  # the sequence rules of kraft.state.partition
            producer = p.producers.get(header.producer_id)
            if producer is None:
                if header.base_sequence != 0:
                    raise UnknownProducerId(f"producer {header.producer_id} is unknown here and "
                                            f"sequence {header.base_sequence} is not 0")
                producer = p.producers[header.producer_id] = [0, []]
            if header.base_sequence != producer[0]:
                for seq, count, first_base in producer[1]:
                    if seq == header.base_sequence and count == header.count:
                        return int(first_base)  # a retry of a batch already in the log
                raise OutOfOrderSequence(f"producer {header.producer_id}: sequence {header.base_sequence},"
                                         f" expected {producer[0]}")
        base = p.high_watermark
        p.bases.append(base)
        p.batches.append(batch)
        p.high_watermark += header.count
        if producer is not None:
            producer[0] = header.base_sequence + header.count
            producer[1] = [*producer[1][-(RECENT_BATCHES - 1):], (header.base_sequence, header.count, base)]
        assert self._appended is not None
        self._appended.set()  # wake long-polling fetches; they wait on a fresh event next time
        self._appended = asyncio.Event()
        return base

    def _leader_partition(self, node_id: int, api: str, topic: str, partition: int) -> _Partition:
        queued = self._partition_errors.get((api, topic, partition))
        if queued:
            raise _error(queued.pop(0), f"injected for {topic}/{partition}")
        p = self._partition(topic, partition)
        if p.leader != node_id:
            raise NotLeader(f"node {node_id} is not the leader of {topic}/{partition}", leader=p.leader)
        return p

    # --- APIs -------------------------------------------------------------------------------------

    async def _api_api_versions(self, node_id: int, body: dict[str, Any]) -> dict[str, Any]:
        return {"apis": APIS, "version": 1, "node_id": node_id}

    async def _api_metadata(self, node_id: int, body: dict[str, Any]) -> dict[str, Any]:
        names = body.get("topics")
        topics = []
        for name in sorted(self._topics) if names is None else names:
            parts = self._topics.get(name)
            if parts is None:
                topics.append({"name": name, "error_code": UnknownTopicOrPartition.code, "partitions": []})
                continue
            topics.append({"name": name, "error_code": 0, "partitions": [
                {"partition": i, "leader": p.leader, "replicas": p.replicas} for i, p in enumerate(parts)
            ]})
        nodes = [{"id": n.node_id, "host": self.host, "port": n.port, "rack": None}
                 for n in self._nodes.values() if n.server is not None]
        return {"nodes": nodes, "controller": self.controller, "topics": topics}

    async def _api_create_topic(self, node_id: int, body: dict[str, Any]) -> dict[str, Any]:
        if node_id != self.controller:
            raise NotController(f"node {node_id} is not the controller", controller=self.controller)
        partitions, rf = self._create_topic(body["name"], body.get("partitions"), body.get("replication_factor"))
        return {"name": body["name"], "partitions": partitions, "replication_factor": rf}

    async def _api_delete_topic(self, node_id: int, body: dict[str, Any]) -> dict[str, Any]:
        if node_id != self.controller:
            raise NotController(f"node {node_id} is not the controller", controller=self.controller)
        self._delete_topic(body["name"])
        return {}

    async def _api_produce(self, node_id: int, body: dict[str, Any]) -> dict[str, Any]:
        acks = body["acks"]
        if acks not in (-1, 0, 1):
            raise InvalidRequest(f"acks must be -1, 0 or 1, got {acks!r}")
        results = []
        for entry in body["entries"]:
            topic, partition = entry["topic"], entry["partition"]
            result: dict[str, Any] = {"topic": topic, "partition": partition, "error_code": 0,
                                      "message": None, "base_offset": -1}
            try:
                p = self._leader_partition(node_id, "produce", topic, partition)
                if self.max_record_bytes is not None and len(entry["batch"]) > self.max_record_bytes:
                    raise RecordTooLarge(f"batch of {len(entry['batch'])} bytes is over max_record_bytes")
                base = self._append(p, entry["batch"])
                if acks != 0:
                    result["base_offset"] = base
            except KraftError as exc:
                result.update(error_code=exc.code, message=exc.message)
            results.append(result)
        return {"results": results}

    async def _api_init_producer_id(self, node_id: int, body: dict[str, Any]) -> dict[str, Any]:
        producer_id = self._next_producer_id
        self._next_producer_id += 1
        return {"producer_id": producer_id, "producer_epoch": 0}

    async def _api_fetch(self, node_id: int, body: dict[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + body.get("max_wait_ms", 0) / 1000
        min_bytes = body.get("min_bytes", 1)
        while True:
            event = self._appended
            answer, total = self._fetch_once(node_id, body)
            remaining = deadline - time.monotonic()
            errors = any(p["error_code"] for p in answer)
            if total >= min_bytes or errors or remaining <= 0 or event is None:
                return {"partitions": answer}
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await event.wait()

    def _fetch_once(self, node_id: int, body: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
        budget = body.get("max_bytes", 50 * 1024 * 1024)
        answer, total = [], 0
        for req in body["partitions"]:
            topic, partition, offset = req["topic"], req["partition"], req["offset"]
            out: dict[str, Any] = {"topic": topic, "partition": partition, "error_code": 0, "message": None,
                                   "high_watermark": -1, "log_start_offset": -1, "batches": []}
            try:
                p = self._leader_partition(node_id, "fetch", topic, partition)
                out["high_watermark"], out["log_start_offset"] = p.high_watermark, p.log_start_offset
                if not p.log_start_offset <= offset <= p.high_watermark:
                    raise OffsetOutOfRange(
                        f"offset {offset} not in [{p.log_start_offset}, {p.high_watermark}]")
                i = max(0, bisect.bisect_right(p.bases, offset) - 1)
                part_budget = req.get("max_bytes", budget)
                taken = 0
                while i < len(p.bases) and offset < p.high_watermark:
                    size = len(p.batches[i])
                    if (taken or total) and (taken + size > part_budget or total + size > budget):
                        break  # "at least one batch" only for the first batch of the answer
                    out["batches"].append([p.bases[i], p.batches[i]])
                    taken += size
                    total += size
                    i += 1
            except KraftError as exc:
                out.update(error_code=exc.code, message=exc.message)
            answer.append(out)
        return answer, total

    async def _api_list_offsets(self, node_id: int, body: dict[str, Any]) -> dict[str, Any]:
        answer = []
        for req in body["partitions"]:
            topic, partition, ts = req["topic"], req["partition"], req["timestamp"]
            out: dict[str, Any] = {"topic": topic, "partition": partition, "error_code": 0, "message": None,
                                   "offset": -1}
            try:
                p = self._leader_partition(node_id, "list_offsets", topic, partition)
                if ts == -2:
                    out["offset"] = p.log_start_offset
                elif ts == -1:
                    out["offset"] = p.high_watermark
                else:
                    raise InvalidRequest(f"timestamp {ts} is not -2 (earliest) or -1 (latest)")
            except KraftError as exc:
                out.update(error_code=exc.code, message=exc.message)
            answer.append(out)
        return {"partitions": answer}

    async def _api_node_status(self, node_id: int, body: dict[str, Any]) -> dict[str, Any]:
        groups = [
            {"topic": t, "partition": i, "leader": p.leader, "term": 1, "commit_index": p.high_watermark,
             "high_watermark": p.high_watermark}
            for t, parts in sorted(self._topics.items()) for i, p in enumerate(parts) if node_id in p.replicas
        ]
        peers = {n.node_id: n.server is not None for n in self._nodes.values() if n.node_id != node_id}
        return {"node_id": node_id, "peers": peers, "groups": groups}


def _count(batch: bytes) -> int:
    return verify_batch(batch).count


def _error(code: int, message: str) -> KraftError:
    return error_for_code(code, message)


def _wire_details(exc: KraftError) -> dict[str, Any]:
    return {k: v for k, v in exc.details.items() if isinstance(v, int | str | None)}


__all__ = ["FakeCluster"]
