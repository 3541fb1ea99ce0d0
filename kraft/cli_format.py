"""Text for the ``kraft`` command line: aligned tables for people, JSON-ready values for scripts.

Pure functions from values to strings; the CLI decides where they go (stdout/stderr). Nothing here
talks to a cluster, so the output format is tested without one.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from kraft.errors import ElectionNotNeeded, KraftError
from kraft.state.acls import AclBinding, Operation, PatternType, Permission, ResourceType
from kraft.topic_config import format_value

NONE_CELL = "-"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def cell(value: object) -> str:
    """One table cell: None as '-', lists comma-joined, control characters escaped (a newline inside
    a value would break the table's rows)."""
    if value is None:
        return NONE_CELL
    if isinstance(value, list | tuple):
        return ",".join(cell(v) for v in value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="backslashreplace")
    return _CONTROL.sub(lambda m: _ESCAPES.get(m.group(), f"\\x{ord(m.group()):02x}"), str(value))


def _is_numeric(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numeric_column(values: Sequence[object]) -> bool:
    return any(_is_numeric(v) for v in values) and all(_is_numeric(v) or v is None for v in values)


def render_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A plain-text table: a header line, then one line per row; numbers right-aligned, the rest left.

    >>> print(render_table(["topic", "partition"], [["orders", 0], ["payments", 10]]))
    topic     partition
    orders            0
    payments         10
    """
    body = [list(row) for row in rows]
    cells = [[cell(v) for v in row] for row in body]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    # A column is right-aligned when it holds numbers (None, shown as '-', may sit among them).
    right = [_numeric_column([row[i] for row in body]) for i in range(len(headers))]
    lines = [_line(list(headers), widths, right), *(_line(row, widths, right) for row in cells)]
    return "\n".join(lines)


def _line(cells: Sequence[str], widths: Sequence[int], right: Sequence[bool]) -> str:
    parts = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)]
    return "  ".join(parts).rstrip()


@dataclass(frozen=True)
class Column:
    name: str
    width: int
    right: bool = False


class StreamTable:
    """A table printed row by row as records arrive (``kraft consume``), so widths are fixed up
    front; a wider cell widens only its own row (data is never truncated), and the last column is
    never padded."""

    def __init__(self, columns: Sequence[Column]) -> None:
        self.columns = list(columns)

    def header(self) -> str:
        return self._format([c.name for c in self.columns])

    def row(self, values: Sequence[object]) -> str:
        return self._format([cell(v) for v in values])

    def _format(self, cells: Sequence[str]) -> str:
        last = len(self.columns) - 1
        parts = []
        for i, (col, text) in enumerate(zip(self.columns, cells, strict=True)):
            if i == last:
                parts.append(text.rjust(col.width) if col.right else text)
            else:
                parts.append(text.rjust(col.width) if col.right else text.ljust(col.width))
        return "  ".join(parts).rstrip()


RECORD_COLUMNS = (
    Column("partition", 9, right=True),
    Column("offset", 10, right=True),
    Column("timestamp", 24),
    Column("key", 16),
    Column("value", 0),
)


def format_timestamp_ms(timestamp_ms: int | None) -> str:
    """ISO 8601 in UTC with milliseconds, so output does not depend on the machine's time zone."""
    if timestamp_ms is None or timestamp_ms < 0:
        return NONE_CELL
    moment = datetime.datetime.fromtimestamp(timestamp_ms / 1000, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_bytes(data: bytes | None) -> str | dict[str, str] | None:
    """Bytes for JSON output: the text when it is UTF-8, else ``{"base64": ...}`` so nothing is lost."""
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def record_json(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    timestamp_ms: int,
    headers: Iterable[tuple[str, bytes]] | None,
) -> dict[str, object]:
    """One consumed record as a JSON object (a line of ``kraft consume --json``)."""
    return {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "timestamp_ms": timestamp_ms,
        "key": json_bytes(key),
        "value": json_bytes(value),
        "headers": [[name, json_bytes(data)] for name, data in headers or ()],
    }


def dumps(obj: object) -> str:
    """One line of JSON (sorted keys would reorder fields people read left to right, so no)."""
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))


def error_text(error: KraftError) -> str:
    return f"error: {error.name}: {error.message}"


def error_json(error: KraftError) -> dict[str, object]:
    return {"error": error.name, "code": error.code, "message": error.message}


def parse_header(text: str) -> tuple[str, bytes]:
    """``k=v`` from ``--header`` → ``(k, b"v")``; ValueError if there is no '=' or no name."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"header {text!r} is not name=value")
    return name, value.encode("utf-8")


class PartitionLike(Protocol):
    """What tables need of the client's PartitionInfo (a Protocol, so this module needs no client)."""

    @property
    def partition(self) -> int: ...
    @property
    def leader(self) -> int | None: ...
    @property
    def replicas(self) -> Sequence[int]: ...
    @property
    def high_watermark(self) -> int | None: ...
    @property
    def replica_states(self) -> Mapping[int, str]: ...
    @property
    def under_replicated(self) -> bool: ...
    @property
    def log_start_offset(self) -> int | None: ...
    @property
    def size_bytes(self) -> int | None: ...


PARTITION_HEADERS = ("partition", "leader", "replicas", "replica states", "log start", "high watermark", "size")


def replica_states_text(p: PartitionLike) -> str:
    states = p.replica_states
    return ", ".join(f"{r}: {states[r]}" for r in p.replicas if r in states) or "unknown"


def partition_row(p: PartitionLike) -> list[object]:
    return [p.partition, p.leader, list(p.replicas), replica_states_text(p), p.log_start_offset, p.high_watermark,
            human_bytes(p.size_bytes)]


def partition_json(p: PartitionLike) -> dict[str, object]:
    return {
        "partition": p.partition,
        "leader": p.leader,
        "replicas": list(p.replicas),
        "log_start_offset": p.log_start_offset,
        "high_watermark": p.high_watermark,
        "size_bytes": p.size_bytes,
        "replica_states": {str(r): s for r, s in p.replica_states.items()},
        "under_replicated": p.under_replicated,
    }


# --- the cluster (``kraft cluster status``, ``kraft cluster elect-leaders``) -------------------------


class ClusterLike(Protocol):
    """What the status line needs of the client's ClusterDescription."""

    @property
    def cluster_id(self) -> str | None: ...
    @property
    def controller(self) -> int | None: ...
    @property
    def metadata_voters(self) -> tuple[int, ...]: ...
    @property
    def metadata_learners(self) -> tuple[int, ...]: ...


def cluster_line(cluster: ClusterLike | None) -> str:
    """The cluster's id and controller, then the metadata group's voters and learners (as the node
    that answered has them; "?" from a node that does not say)."""
    if cluster is None:
        return "cluster: unknown"
    voters = ",".join(map(str, cluster.metadata_voters)) or "?"
    learners = ",".join(map(str, cluster.metadata_learners)) or ("-" if cluster.metadata_voters else "?")
    return (f"cluster id: {cell(cluster.cluster_id)}  controller: {cell(cluster.controller)}\n"
            f"metadata voters: {voters}  learners: {learners}")


class ElectionLike(Protocol):
    """What tables need of the client's LeaderElection."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def preferred(self) -> int | None: ...
    @property
    def leader(self) -> int | None: ...
    @property
    def error(self) -> KraftError | None: ...


ELECTION_HEADERS = ("topic", "partition", "preferred", "leader", "result")


def election_outcome(e: ElectionLike) -> str:
    """``elected`` (this election moved leadership), ``not needed`` (the preferred replica led
    already) or ``failed``."""
    if e.error is None:
        return "elected"
    return "not needed" if isinstance(e.error, ElectionNotNeeded) else "failed"


def election_row(e: ElectionLike) -> list[object]:
    outcome = election_outcome(e)
    result = f"{e.error.name}: {e.error.message}" if outcome == "failed" and e.error is not None else outcome
    return [e.topic, e.partition, e.preferred, e.leader, result]


def elections_summary(elections: Sequence[ElectionLike]) -> str:
    counts = {o: sum(election_outcome(e) == o for e in elections) for o in ("elected", "not needed", "failed")}
    return (f"{len(elections)} partitions: {counts['elected']} elected, {counts['not needed']} already led by "
            f"their preferred replica, {counts['failed']} failed")


def elections_json(elections: Sequence[ElectionLike]) -> dict[str, object]:
    partitions = [{"topic": e.topic, "partition": e.partition, "preferred": e.preferred, "leader": e.leader,
                   "result": election_outcome(e), "error": None if e.error is None else e.error.name,
                   "message": None if e.error is None else e.error.message} for e in elections]
    return {"partitions": partitions, **{o.replace(" ", "_"): sum(p["result"] == o for p in partitions)
                                         for o in ("elected", "not needed", "failed")}}


# --- rebalance plans (``kraft cluster rebalance`` / ``decommission``) --------------------------------


class MoveLike(Protocol):
    """What tables need of the client's PlannedMove."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def replicas(self) -> list[int]: ...
    @property
    def target(self) -> list[int] | None: ...
    @property
    def planned(self) -> list[int]: ...
    @property
    def moved_replicas(self) -> int: ...


class PlanLike(Protocol):
    """What tables need of the client's RebalancePlan."""

    @property
    def moves(self) -> Sequence[MoveLike]: ...
    @property
    def replicas_before(self) -> Mapping[int, int]: ...
    @property
    def replicas_after(self) -> Mapping[int, int]: ...
    @property
    def leaders_before(self) -> Mapping[int, int]: ...
    @property
    def leaders_after(self) -> Mapping[int, int]: ...
    @property
    def decommissioned(self) -> Sequence[int]: ...
    @property
    def moved_replicas(self) -> int: ...


MOVE_HEADERS = ("topic", "partition", "replicas now", "planned", "moved replicas")
PLAN_NODE_HEADERS = ("node", "replicas before", "replicas after", "preferred leaders before", "preferred leaders after",
                     "note")


def move_row(m: MoveLike) -> list[object]:
    """A partition being moved already shows where it was going: ``1,2,3 (moving to 2,3,4)``."""
    now = cell(m.replicas) if m.target is None else f"{cell(m.replicas)} (moving to {cell(m.target)})"
    return [m.topic, m.partition, now, cell(m.planned), m.moved_replicas]


def plan_node_rows(plan: PlanLike) -> list[list[object]]:
    nodes = sorted(set(plan.replicas_before) | set(plan.replicas_after))
    return [[n, plan.replicas_before.get(n, 0), plan.replicas_after.get(n, 0), plan.leaders_before.get(n, 0),
             plan.leaders_after.get(n, 0), "decommissioned" if n in plan.decommissioned else ""] for n in nodes]


def plan_summary(plan: PlanLike) -> str:
    if not plan.moves:
        return "the cluster is balanced: nothing to move"
    reorders = sum(m.moved_replicas == 0 for m in plan.moves)
    return (f"{len(plan.moves)} partition(s) to change: {plan.moved_replicas} replica(s) to move"
            + (f", {reorders} only reordered (a new preferred leader, no data moved)" if reorders else ""))


def plan_json(plan: PlanLike) -> dict[str, object]:
    def counts(before: Mapping[int, int], after: Mapping[int, int]) -> list[dict[str, int]]:
        return [{"node": n, "before": before.get(n, 0), "after": after.get(n, 0)}
                for n in sorted(set(before) | set(after))]

    return {"moves": [{"topic": m.topic, "partition": m.partition, "replicas": list(m.replicas),
                       "target": None if m.target is None else list(m.target), "planned": list(m.planned),
                       "moved_replicas": m.moved_replicas} for m in plan.moves],
            "moved_replicas": plan.moved_replicas,
            "replicas_per_node": counts(plan.replicas_before, plan.replicas_after),
            "leaders_per_node": counts(plan.leaders_before, plan.leaders_after),
            "decommissioned": list(plan.decommissioned)}


# --- topic configs (``kraft topic create/alter/describe``) -----------------------------------------


class ConfigLike(Protocol):
    """What tables need of the client's ConfigEntry."""

    @property
    def value(self) -> int | float | str: ...
    @property
    def source(self) -> str: ...
    @property
    def default(self) -> int | float | str: ...


CONFIG_HEADERS = ("config", "value", "source")


def config_text(value: int | float | str) -> str:
    """A config value as Kafka writes it (1.0, not 1; 604800000, not 604,800,000)."""
    return format_value(value)


def config_rows(configs: Mapping[str, ConfigLike]) -> list[list[object]]:
    # Values are text: a column of numbers and policies must not be right-aligned as numbers.
    return [[name, config_text(c.value), c.source] for name, c in configs.items()]


def configs_json(configs: Mapping[str, ConfigLike]) -> list[dict[str, object]]:
    return [{"name": name, "value": c.value, "source": c.source, "default": c.default} for name, c in configs.items()]


def parse_topic_configs(items: Sequence[str]) -> dict[str, str]:
    """``k=v`` arguments -> ``{k: v}`` (the node checks names and values); ValueError without a name
    or with a name given twice."""
    out: dict[str, str] = {}
    for text in items:
        name, sep, value = text.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"config {text!r} is not name=value")
        if name in out:
            raise ValueError(f"config {name!r} is given twice")
        out[name] = value.strip()
    return out


_BYTE_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(n: int | None) -> str | None:
    """A size for people: ``512 B``, ``1.5 KiB``, ``12 MiB`` (binary units; three significant
    digits at most); None stays None (shown as '-')."""
    if n is None:
        return None
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in _BYTE_UNITS:
        value /= 1024
        if round(value, 1 if value < 10 else 0) < 1024 or unit == _BYTE_UNITS[-1]:
            break  # (rounded: 1,048,575 bytes is 1 MiB, not 1024 KiB)
    text = f"{value:.1f}" if value < 10 else f"{value:.0f}"
    return f"{text.removesuffix('.0')} {unit}"


def summary_rate(count: int, elapsed_s: float) -> str:
    """``12,000 records in 1.2 s (10,000 records/s)``."""
    rate = f" ({count / elapsed_s:,.0f} records/s)" if elapsed_s > 0 and count else ""
    noun = "record" if count == 1 else "records"
    return f"{count:,} {noun} in {elapsed_s:.1f} s{rate}"


# --- consumer groups (``kraft group ...``) ---------------------------------------------------------


class _MemberLike(Protocol):
    @property
    def member_id(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def assignment(self) -> Sequence[tuple[str, int]]: ...


class _OffsetsLike(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def committed(self) -> int | None: ...
    @property
    def end_offset(self) -> int | None: ...
    @property
    def lag(self) -> int | None: ...


class GroupLike(Protocol):
    """What ``kraft group describe`` needs of the client's GroupDescription."""

    @property
    def group_id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def generation(self) -> int: ...
    @property
    def members(self) -> Sequence[_MemberLike]: ...
    @property
    def offsets(self) -> Sequence[_OffsetsLike]: ...


GROUP_OFFSET_HEADERS = ("topic", "partition", "member", "committed", "end offset", "lag")


def group_summary(group: GroupLike) -> str:
    """``group billing: Stable, generation 4, 3 members``."""
    n = len(group.members)
    return f"group {group.group_id}: {group.state}, generation {group.generation}, {n} member{'s' if n != 1 else ''}"


def group_offset_rows(group: GroupLike) -> list[list[object]]:
    """One row per partition: its member (by assignment; None when unassigned) and offsets."""
    owner = {(tp[0], tp[1]): m.member_id for m in group.members for tp in m.assignment}
    return [[o.topic, o.partition, owner.get((o.topic, o.partition)), o.committed, o.end_offset, o.lag]
            for o in group.offsets]


def group_json(group: GroupLike) -> dict[str, object]:
    owner = {(tp[0], tp[1]): m.member_id for m in group.members for tp in m.assignment}
    return {
        "group_id": group.group_id,
        "state": group.state,
        "generation": group.generation,
        "members": [{"member_id": m.member_id, "client_id": m.client_id, "host": m.host,
                     "assignment": [[tp[0], tp[1]] for tp in m.assignment]} for m in group.members],
        "offsets": [{"topic": o.topic, "partition": o.partition, "member": owner.get((o.topic, o.partition)),
                     "committed": o.committed, "end_offset": o.end_offset, "lag": o.lag} for o in group.offsets],
    }


def figure_cell(value: float | None, unit: str) -> str:
    """One key figure of ``kraft cluster metrics`` as a person reads it: ``-`` when there is none,
    bytes in KiB/MiB/..., seconds in ms below one second, counts as integers where they are."""
    if value is None:
        return "-"
    if unit == "bytes":
        return human_bytes(int(value)) or "-"
    if unit == "seconds":
        return f"{value * 1000:.2f} ms" if value < 1 else f"{value:.2f} s"
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


ACL_HEADERS = ["resource", "name", "pattern", "principal", "host", "operation", "permission"]


def acl_row(b: AclBinding) -> dict[str, object]:
    """One ACL binding as ``kraft acl list`` prints it (Kafka's names, lower case)."""
    return {"resource": _enum_name(ResourceType, b.resource_type), "name": b.resource_name,
            "pattern": _enum_name(PatternType, b.pattern_type), "principal": b.principal, "host": b.host,
            "operation": _enum_name(Operation, b.operation), "permission": _enum_name(Permission, b.permission)}


def _enum_name(enum: type[IntEnum], value: int) -> str:
    member = enum._value2member_map_.get(value)
    return member.name.lower() if member is not None else str(value)
