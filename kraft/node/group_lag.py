"""Consumer-group lag on the coordinator: the end offsets of the partitions groups committed on,
refreshed in the background so that a scrape only reads a cache.

Owns: ``EndOffsets`` (partition -> end offset, and when they were asked) and ``GroupLagSource``,
whose ``run`` refreshes them every ``group_lag_refresh_ms`` on the group coordinator (the metadata
leader) only: the partitions some group has a committed offset on (at most ``PARTITIONS_MAX``, in
topic order) are asked of their leaders as this node's metadata knows them; those led here are read
locally (``Broker.list_offset``), the others with one native ``list_offsets`` request per leader's
node carrying all of its partitions, each answered within ``REQUEST_TIMEOUT_S``. A partition not
answered in a refresh (its leader down, moved or electing) is left out of that refresh: no figure
rather than a stale one. Off the coordinator the cache is empty.
Why here and not in the metadata group: committed offsets are replicated there, end offsets are not,
and putting every partition's high watermark into it would take a Raft entry per partition per
report (the catalogue rows exist so a leader report writes one partition row, not more). Why not a
request per scrape: a scrape must not wait for other nodes, and Prometheus may scrape often.
Must not: be on a request path, block the loop (one LMDB read per local partition, the rest is I/O),
or decide what the metrics are called (``kraft.node.metrics``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kraft import errors
from kraft.apis.connection import Connection
from kraft.node.broker import Broker
from kraft.node.broker_values import NodeAddress

log = logging.getLogger(__name__)

API = "list_offsets"
LATEST = -1  # list_offsets' timestamp for the end offset (the high watermark)
PARTITIONS_MAX = 20_000  # asked per refresh; beyond it, partitions (in topic order) have no lag figure
REQUEST_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_MS = 2000

Partition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class EndOffsets:
    """End offsets as one refresh found them (replaced whole: the HTTP thread reads it, the loop writes)."""

    offsets: Mapping[Partition, int] = field(default_factory=dict)
    asked_at: float | None = None  # monotonic time the refresh began; None: none on this coordinator yet


@dataclass(frozen=True, slots=True)
class Plan:
    """Where to ask each partition's end offset."""

    here: list[Partition]
    by_node: dict[int, list[Partition]]
    leaderless: list[Partition]


def plan(partitions: Iterable[Partition], leaders: Mapping[Partition, int | None], node_id: int) -> Plan:
    """Partitions by where their leader is: this node, another node (grouped), none known (or a
    partition that no longer exists)."""
    here: list[Partition] = []
    by_node: dict[int, list[Partition]] = defaultdict(list)
    leaderless: list[Partition] = []
    for part in partitions:
        leader = leaders.get(part)
        if leader is None:
            leaderless.append(part)
        elif leader == node_id:
            here.append(part)
        else:
            by_node[leader].append(part)
    return Plan(here, dict(by_node), leaderless)


def committed_partitions(groups: Mapping[str, Any], limit: int = PARTITIONS_MAX) -> list[Partition]:
    """Every partition some group has a committed offset on (``MetadataMachine.groups``), sorted, at
    most ``limit``."""
    seen: set[Partition] = set()
    for committed in list(groups.values()):
        seen.update(dict(committed.offsets))
    return sorted(seen)[:limit]


class GroupLagSource:
    def __init__(self, broker: Broker, refresh_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.broker = broker
        self.refresh_s = refresh_s
        self.clock = clock
        self.current = EndOffsets()

    async def run(self) -> None:
        while True:
            try:
                if self.broker.coordinator.is_coordinator():
                    self.current = await self.refresh()
                else:
                    self.current = EndOffsets()  # a former coordinator's figures would go stale
            except Exception:
                log.exception("refreshing the end offsets for group lag failed; trying again in %.0f s",
                              self.refresh_s)
            await asyncio.sleep(self.refresh_s)

    async def refresh(self) -> EndOffsets:
        started = self.clock()
        wanted = committed_partitions(self.broker.replicas.metadata.groups)
        if not wanted:
            return EndOffsets({}, started)
        meta = self.broker.metadata(sorted({t for t, _ in wanted}))
        leaders = {(t.name, p.partition): p.leader for t in meta.topics for p in t.partitions}
        where = plan(wanted, leaders, self.broker.node_id)
        addresses = {n.node_id: n for n in meta.nodes}
        found: dict[Partition, int] = {}
        for topic, partition in where.here:
            try:
                listed = self.broker.list_offset(topic, partition, LATEST)
            except errors.KraftError:
                continue  # leadership moved since the metadata was read: next refresh
            if listed is not None:
                found[(topic, partition)] = listed.offset
        answers = await asyncio.gather(*(_ask(addresses.get(node), node, parts, self.broker.config.max_frame_bytes)
                                         for node, parts in where.by_node.items()))
        for answer in answers:
            found.update(answer)
        return EndOffsets(found, started)


async def _ask(address: NodeAddress | None, node_id: int, parts: Sequence[Partition],
               max_frame_bytes: int) -> dict[Partition, int]:
    """The end offsets of ``parts`` from node ``node_id`` (their leader), in one request; those it
    could not answer (not the leader any more, ...) and all of them when it does not answer, left out."""
    if address is None:
        return {}
    try:
        conn = await Connection.open(address.host, address.port, connect_timeout_ms=CONNECT_TIMEOUT_MS,
                                     max_frame_bytes=max_frame_bytes)
    except errors.KraftConnectionError as e:
        log.debug("group lag: node %d did not answer (%s)", node_id, e.message)
        return {}
    try:
        body = {"partitions": [{"topic": t, "partition": p, "timestamp": LATEST} for t, p in parts]}
        code, answer = await conn.request(API, body, REQUEST_TIMEOUT_S * 1000)
        if code:
            return {}
        return parse_answer(answer)
    except errors.KraftError as e:
        log.debug("group lag: node %d did not answer (%s)", node_id, e)
        return {}
    finally:
        conn.close()


def parse_answer(answer: Mapping[str, Any]) -> dict[Partition, int]:
    """The partitions a ``list_offsets`` answer gives an end offset for (malformed entries left out)."""
    out: dict[Partition, int] = {}
    for p in answer.get("partitions") or ():
        if not isinstance(p, dict) or p.get("error_code") or not isinstance(p.get("topic"), str):
            continue
        partition, offset = p.get("partition"), p.get("offset")
        if isinstance(partition, int) and isinstance(offset, int) and offset >= 0:
            out[(p["topic"], partition)] = offset
    return out
