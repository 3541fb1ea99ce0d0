"""What the console's forms do: parse a form, call ``ConsoleCluster``, say where to go next.

Owns: each write action's fields and their checks (INVALID_REQUEST naming the field), the typed
confirmation a topic deletion needs (the topic's name again), and that offsets are reset only for
a group without members (checked here for a clear message; the coordinator refuses it anyway with
NON_EMPTY_GROUP, as for the CLI).
Must not: check read-only or the origin (``kraft.console.app`` does, before any action), or render.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from kraft.console.cluster import ConsoleCluster
from kraft.console.pages.common import Fields, first, int_field, key_values, optional_int
from kraft.errors import InvalidRequest, NonEmptyGroup


@dataclass(frozen=True, slots=True)
class Done:
    path: str
    notice: str
    query: dict[str, str] = field(default_factory=dict)


def _name(form: Fields, name: str = "name") -> str:
    value = first(form, name).strip()
    if not value:
        raise InvalidRequest(f"{name} is required")
    return value


def create_topic(cluster: ConsoleCluster, form: Fields) -> Done:
    name = _name(form)
    partitions = optional_int(form, "partitions", minimum=1)
    rf = optional_int(form, "replication_factor", minimum=1)
    configs = key_values(first(form, "configs"), "configs")
    cluster.create_topic(name, partitions, rf, configs)
    return Done("/topic", f"created topic {name}", {"name": name})


def alter_configs(cluster: ConsoleCluster, form: Fields) -> Done:
    topic = _name(form, "topic")
    set_ = key_values(first(form, "set"), "set")
    delete = [n.strip() for n in first(form, "delete").replace(",", "\n").splitlines() if n.strip()]
    if not set_ and not delete:
        raise InvalidRequest("nothing to change: give configs to set (name=value lines) or names to delete")
    cluster.alter_configs(topic, set_, delete)
    return Done("/topic", f"changed the configs of {topic}", {"name": topic})


def add_partitions(cluster: ConsoleCluster, form: Fields) -> Done:
    topic = _name(form, "topic")
    total = int_field(form, "total", minimum=1)
    cluster.add_partitions(topic, total)
    return Done("/topic", f"{topic} has {total} partitions", {"name": topic})


def delete_topic(cluster: ConsoleCluster, form: Fields) -> Done:
    topic = _name(form, "topic")
    if first(form, "confirm").strip() != topic:
        raise InvalidRequest(f"to delete {topic}, type its name in the confirmation field")
    cluster.delete_topic(topic)
    return Done("/topics", f"deleted topic {topic}")


def produce(cluster: ConsoleCluster, form: Fields) -> Done:
    topic = _name(form, "topic")
    partition = optional_int(form, "partition", minimum=0)
    key = first(form, "key")
    headers = [(k, v.encode()) for k, v in key_values(first(form, "headers"), "headers").items()]
    written_partition, offset = cluster.produce(topic, partition, key.encode() if key else None,
                                                first(form, "value").encode(), headers)
    return Done("/messages", f"produced to {topic} partition {written_partition} at offset {offset}",
                {"topic": topic, "partition": str(written_partition), "from": "offset", "offset": str(offset)})


def reset_offsets(cluster: ConsoleCluster, form: Fields) -> Done:
    group_id = _name(form, "group")
    topic = _name(form, "topic")
    raw = first(form, "to").strip()
    to: str | int
    to = raw if raw in ("earliest", "latest") else int_field(form, "to", minimum=0)
    group = cluster.group(group_id)
    if group.members:
        raise NonEmptyGroup(f"group {group_id} has {len(group.members)} members: stop them before resetting "
                            "its offsets")
    offsets = cluster.reset_offsets(group_id, topic, to)
    shown = ", ".join(f"{tp.partition}: {o}" for tp, o in sorted(offsets.items()))
    return Done("/group", f"reset {group_id} on {topic} to {shown} ({time.strftime('%H:%M:%S')})",
                {"id": group_id})
