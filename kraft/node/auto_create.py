"""Topic auto-creation (Kafka's ``auto.create.topics.enable``): a topic a client names before it exists
is created with the cluster's default partitions and replication factor.

Owns: which names may be created this way (valid names that are not internal: names starting with
``__`` are reserved, as Kafka's ``__consumer_offsets``), one creation in flight per name however many
requests name it at once, how long a request waits for it (``WAIT_S``), and what a request answers
for each name it could not serve yet: ``LeaderNotAvailable`` while the topic is being created (Kafka's
answer: the client asks again), ``InvalidTopic`` for a name no topic can have, and
``UnknownTopicOrPartition`` when auto-creation is off or the name is internal.
Must not: place or propose the topic itself (the broker's ``create_topic`` does), or decide which
requests allow auto-creation (the front ends do, from their request's fields).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence

from kraft import errors

log = logging.getLogger(__name__)

TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
INTERNAL_PREFIX = "__"
WAIT_S = 5.0  # a request waits this long for its topics' creation, then answers LEADER_NOT_AVAILABLE
MAX_PER_REQUEST = 100  # topics one request may create (the others answer UNKNOWN_TOPIC_OR_PARTITION)


def valid_topic_name(name: object) -> bool:
    return isinstance(name, str) and TOPIC_NAME.fullmatch(name) is not None and name not in (".", "..")


class TopicAutoCreator:
    """``create(name)`` creates a topic with the defaults (TopicAlreadyExists when it is there);
    ``exists(name)`` says whether this node's metadata has it."""

    def __init__(self, enabled: bool, create: Callable[[str], Awaitable[object]],
                 exists: Callable[[str], bool]) -> None:
        self.enabled = enabled
        self._create = create
        self._exists = exists
        self._in_flight: dict[str, asyncio.Task[None]] = {}

    async def ensure(self, names: Sequence[str]) -> dict[str, errors.KraftError]:
        """Create the topics among ``names`` that do not exist (when allowed) and wait up to
        ``WAIT_S`` for them; the error each name that is not (yet) in this node's metadata answers."""
        out: dict[str, errors.KraftError] = {}
        started = self.start(names, refused=out)
        if started:
            # wait() never cancels what it waits for: a creation other requests share goes on
            await asyncio.wait([t for _, t in started], timeout=WAIT_S)
        for name, _task in started:
            if not self._exists(name):  # created on the metadata leader; this node has not applied it yet
                out[name] = errors.LeaderNotAvailable(f"topic {name!r} is being created")
        return out

    def start(self, names: Sequence[str], refused: dict[str, errors.KraftError] | None = None,
              ) -> list[tuple[str, asyncio.Task[None]]]:
        """Start creating the topics among ``names`` that do not exist and may be created, without
        waiting (the creations under way); the others go into ``refused`` with their error."""
        started: list[tuple[str, asyncio.Task[None]]] = []
        for name in dict.fromkeys(names):
            if self._exists(name):
                continue
            if not valid_topic_name(name):
                error: errors.KraftError = errors.InvalidTopic(
                    f"invalid topic name {name!r}: use 1-249 of [A-Za-z0-9._-]")
            elif not self.enabled or name.startswith(INTERNAL_PREFIX) or len(started) >= MAX_PER_REQUEST:
                why = ("auto_create_topics is off" if not self.enabled else
                       "internal names are never auto-created" if name.startswith(INTERNAL_PREFIX) else
                       f"a request auto-creates at most {MAX_PER_REQUEST} topics")
                error = errors.UnknownTopicOrPartition(f"topic {name!r} does not exist ({why})")
            else:
                started.append((name, self._start(name)))
                continue
            if refused is not None:
                refused[name] = error
        return started

    def _start(self, name: str) -> asyncio.Task[None]:
        task = self._in_flight.get(name)
        if task is None:
            task = self._in_flight[name] = asyncio.ensure_future(self._run(name))
            task.add_done_callback(lambda _t: self._in_flight.pop(name, None))
        return task

    async def _run(self, name: str) -> None:
        try:
            await self._create(name)
            log.info("auto-created topic %r", name)
        except errors.TopicAlreadyExists:
            pass
        except errors.KraftError as e:  # the client asks again (LEADER_NOT_AVAILABLE), and so do we then
            log.warning("auto-creating topic %r failed: %s", name, e)
