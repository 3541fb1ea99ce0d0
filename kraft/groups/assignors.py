"""Partition assignors for consumer groups, run by the group coordinator when a generation ends.

Each assignor is a pure function ``(members, partitions, previous) -> assignment``:

* ``members``: member id -> topics it subscribes to (members may subscribe to different topics);
* ``partitions``: topic -> partition count (a subscribed topic missing here is skipped);
* ``previous``: last generation's assignment (only ``sticky`` reads it);
* the result has every member (possibly with an empty list), each list sorted.

No randomness, no clock and no dependence on dict order: members are always taken sorted by id, so
every coordinator replaying the same join computes the same answer. This module owns the assignment
arithmetic only; it must not know about generations, sessions or the wire.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from kraft.errors import InconsistentGroupProtocol

TopicPartition = tuple[str, int]
Members = Mapping[str, Sequence[str]]
Partitions = Mapping[str, int]
Assignment = dict[str, list[TopicPartition]]
Assignor = Callable[[Members, Partitions, "Mapping[str, Sequence[TopicPartition]] | None"], Assignment]


def _subscribers(members: Members, partitions: Partitions) -> dict[str, list[str]]:
    """Topic -> ids of the members subscribed to it, sorted; only topics that exist and are wanted.

    >>> _subscribers({"b": ["t", "x"], "a": ["t"]}, {"t": 2, "u": 1})
    {'t': ['a', 'b']}
    """
    wanted: dict[str, list[str]] = {}
    for member in sorted(members):
        for topic in sorted(set(members[member])):
            if partitions.get(topic, 0) > 0:
                wanted.setdefault(topic, []).append(member)
    return {topic: wanted[topic] for topic in sorted(wanted)}


def range_assign(
    members: Members, partitions: Partitions, previous: Mapping[str, Sequence[TopicPartition]] | None = None
) -> Assignment:
    """Kafka's ``range``: per topic, contiguous ranges to its subscribers in id order.

    With ``n`` partitions and ``m`` subscribers each gets ``n // m``, and the first ``n % m`` get one
    more. Kafka's documented example, two members and two topics of three partitions:

    >>> range_assign({"c0": ["t0", "t1"], "c1": ["t0", "t1"]}, {"t0": 3, "t1": 3})
    {'c0': [('t0', 0), ('t0', 1), ('t1', 0), ('t1', 1)], 'c1': [('t0', 2), ('t1', 2)]}
    """
    out: Assignment = {member: [] for member in sorted(members)}
    for topic, subscribers in _subscribers(members, partitions).items():
        per_member, extra = divmod(partitions[topic], len(subscribers))
        start = 0
        for i, member in enumerate(subscribers):
            length = per_member + (1 if i < extra else 0)
            out[member].extend((topic, p) for p in range(start, start + length))
            start += length
    return {member: sorted(tps) for member, tps in out.items()}


def roundrobin(
    members: Members, partitions: Partitions, previous: Mapping[str, Sequence[TopicPartition]] | None = None
) -> Assignment:
    """Kafka's ``roundrobin``: all partitions sorted, dealt in turn to members in id order.

    A member not subscribed to a partition's topic is skipped for that partition (the turn moves on
    to the next member that is). Kafka's documented examples:

    >>> roundrobin({"c0": ["t0", "t1"], "c1": ["t0", "t1"]}, {"t0": 3, "t1": 3})
    {'c0': [('t0', 0), ('t0', 2), ('t1', 1)], 'c1': [('t0', 1), ('t1', 0), ('t1', 2)]}
    >>> roundrobin({"c0": ["t0"], "c1": ["t0", "t1"], "c2": ["t0", "t1", "t2"]}, {"t0": 1, "t1": 2, "t2": 3})
    {'c0': [('t0', 0)], 'c1': [('t1', 0)], 'c2': [('t1', 1), ('t2', 0), ('t2', 1), ('t2', 2)]}
    """
    order = sorted(members)
    subscribed = {member: set(members[member]) for member in order}
    out: Assignment = {member: [] for member in order}
    turn = 0
    for topic in _subscribers(members, partitions):  # a topic here has a subscriber: the loop ends
        for p in range(partitions[topic]):
            while topic not in subscribed[order[turn % len(order)]]:
                turn += 1
            out[order[turn % len(order)]].append((topic, p))
            turn += 1
    return out


def sticky(
    members: Members, partitions: Partitions, previous: Mapping[str, Sequence[TopicPartition]] | None = None
) -> Assignment:
    """Kafka's ``sticky`` goal: balanced, and moving as few partitions as possible from ``previous``.

    1. Each member keeps its previous partitions that still exist and that it still subscribes to
       (a partition claimed twice stays with the lower member id). A member that left frees its own.
    2. Free partitions go, most constrained first, to the least loaded member that can take them.
    3. While some member has two more than a member it can pass work to (directly, or along a chain
       of members each taking one partition from the one before), the shortest such chain moves,
       from the most loaded member to the least loaded. Partitions the giver did not own last
       generation move first, then its highest-numbered ones.

    The result is as balanced as the subscriptions allow (with identical subscriptions, counts
    differ by at most one), and with identical subscriptions only the partitions that must move do:
    a joining member takes ``total // len(members)`` partitions, all from members above the new target.

    A third member joins two that own three each; it takes one from each (their highest):

    >>> before = {"a": [("t", 0), ("t", 1), ("t", 2)], "b": [("t", 3), ("t", 4), ("t", 5)]}
    >>> sticky({"a": ["t"], "b": ["t"], "c": ["t"]}, {"t": 6}, before)
    {'a': [('t', 0), ('t', 1)], 'b': [('t', 3), ('t', 4)], 'c': [('t', 2), ('t', 5)]}

    ``b`` leaves and ``c`` joins: ``a`` keeps its two, the four free partitions even the counts out:

    >>> sticky({"a": ["t"], "c": ["t"]}, {"t": 6}, {"a": [("t", 0), ("t", 1)], "b": [("t", 3), ("t", 4)]})
    {'a': [('t', 0), ('t', 1), ('t', 4)], 'c': [('t', 2), ('t', 3), ('t', 5)]}
    """
    eligible = _subscribers(members, partitions)
    was_owned = {member: set((previous or {}).get(member, ())) for member in members}
    owned: dict[str, set[TopicPartition]] = {member: set() for member in members}
    claimed: set[TopicPartition] = set()
    for member in sorted(members):
        for topic, p in sorted(was_owned[member]):
            if member in eligible.get(topic, ()) and 0 <= p < partitions[topic] and (topic, p) not in claimed:
                owned[member].add((topic, p))
                claimed.add((topic, p))

    free = [(topic, p) for topic in eligible for p in range(partitions[topic]) if (topic, p) not in claimed]
    for topic, p in sorted(free, key=lambda tp: (len(eligible[tp[0]]), tp)):
        taker = min(eligible[topic], key=lambda member: (len(owned[member]), member))
        owned[taker].add((topic, p))

    while (chain := _improving_chain(owned, eligible, was_owned)) is not None:
        for tp, giver, taker in chain:
            owned[giver].remove(tp)
            owned[taker].add(tp)
    return {member: sorted(owned[member]) for member in sorted(members)}


def _improving_chain(
    owned: Mapping[str, set[TopicPartition]],
    eligible: Mapping[str, list[str]],
    was_owned: Mapping[str, set[TopicPartition]],
) -> list[tuple[TopicPartition, str, str]] | None:
    """The moves ``(partition, giver, taker)`` that shift one partition's worth of load from a
    member to one with at least two fewer, by the fewest moves; ``None`` when no such chain exists.

    Breadth-first from each member, most loaded first: a member can pass any partition it owns to
    another member subscribed to that partition's topic.

    >>> owned = {"a": {("t", 0), ("t", 1), ("u", 0)}, "b": {("u", 1)}, "c": set()}
    >>> _improving_chain(owned, {"t": ["a"], "u": ["a", "b", "c"]}, {"a": set(), "b": set(), "c": set()})
    [(('u', 0), 'a', 'c')]
    """
    fewest = min((len(tps) for tps in owned.values()), default=0)
    for giver in sorted(owned, key=lambda member: (-len(owned[member]), member)):
        limit = len(owned[giver]) - 2
        if limit < fewest:
            return None
        came_from: dict[str, tuple[TopicPartition, str] | None] = {giver: None}
        frontier = [giver]
        while frontier:
            takers = [member for member in frontier if len(owned[member]) <= limit]
            if takers:
                return _chain_to(min(takers, key=lambda member: (len(owned[member]), member)), came_from)
            reached = []
            for member in frontier:
                topics_seen: set[str] = set()
                for tp in sorted(owned[member], key=lambda tp: (tp not in was_owned[member], tp), reverse=True):
                    if tp[0] in topics_seen:
                        continue
                    topics_seen.add(tp[0])
                    for other in eligible[tp[0]]:
                        if other not in came_from:
                            came_from[other] = (tp, member)
                            reached.append(other)
            frontier = reached
    return None


def _chain_to(
    taker: str, came_from: Mapping[str, tuple[TopicPartition, str] | None]
) -> list[tuple[TopicPartition, str, str]]:
    """Walk ``came_from`` back from ``taker`` to the chain's start; moves listed giver first.

    >>> _chain_to("c", {"a": None, "b": (("t", 0), "a"), "c": (("u", 1), "b")})
    [(('t', 0), 'a', 'b'), (('u', 1), 'b', 'c')]
    """
    chain = []
    step = came_from[taker]
    while step is not None:
        tp, giver = step
        chain.append((tp, giver, taker))
        taker, step = giver, came_from[giver]
    return chain[::-1]


ASSIGNORS: dict[str, Assignor] = {"range": range_assign, "roundrobin": roundrobin, "sticky": sticky}


def uniform(
    members: Members, partitions: Partitions, previous: Mapping[str, Sequence[TopicPartition]] | None = None
) -> Assignment:
    """Kafka's server-side ``uniform`` assignor (KIP-848's default): partitions spread as evenly as
    the subscriptions allow, each member keeping as many of its ``previous`` partitions as it can.
    That is ``sticky``'s goal, so it is ``sticky``'s arithmetic; the name is the one
    ``group.remote.assignor`` / ``server_assignor`` clients send.

    >>> uniform({"a": ["t"], "b": ["t"], "c": ["t"]}, {"t": 6}, {"a": [("t", 0), ("t", 1), ("t", 2)]})
    {'a': [('t', 0), ('t', 1)], 'b': [('t', 3), ('t', 5)], 'c': [('t', 2), ('t', 4)]}
    """
    return sticky(members, partitions, previous)


# The assignors a KIP-848 (consumer protocol) group may name in ``server_assignor``, as Kafka's
# ``group.consumer.assignors``; the first is the default when no member names one.
SERVER_ASSIGNORS: dict[str, Assignor] = {"uniform": uniform, "range": range_assign}
DEFAULT_SERVER_ASSIGNOR = "uniform"


def assign(
    strategy: str,
    members: Members,
    partitions: Partitions,
    previous: Mapping[str, Sequence[TopicPartition]] | None = None,
) -> Assignment:
    """Run the assignor named ``strategy``; an unknown name is ``InconsistentGroupProtocol``.

    >>> assign("range", {"m1": ["t"], "m2": ["t"]}, {"t": 3})
    {'m1': [('t', 0), ('t', 1)], 'm2': [('t', 2)]}
    """
    try:
        assignor = ASSIGNORS[strategy]
    except KeyError:
        raise InconsistentGroupProtocol(f"unknown partition assignment strategy {strategy!r}") from None
    return assignor(members, partitions, previous)
