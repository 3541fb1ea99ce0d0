"""The topics pages: every topic (partitions, replication factor, size, records) with a create form;
one topic's partitions (leader, replicas and their state, log start and end, size), its configs
with their source, and forms to alter configs, add partitions and delete it (typing its name).

Owns: those pages' layout. Must not: talk to the cluster but through ``ConsoleCluster``.
"""

from __future__ import annotations

from kraft.console.html import button, field, form, h, join, link, table
from kraft.console.pages.common import Ctx, Page, first, size
from kraft.errors import InvalidRequest
from kraft.node.http import Request


def render_list(ctx: Ctx, _request: Request) -> Page:
    rows = [[link("/topic", t.name, name=t.name), len(t.description.partitions), t.replication_factor,
             size(t.size_bytes), t.records,
             h("span", {"class": "bad"}, t.under_replicated) if t.under_replicated else 0,
             link("/messages", "browse", topic=t.name, partition=0, **{"from": "end"})]
            for t in ctx.cluster.topics()]
    listing = table(["topic", "partitions", "replication factor", "size", "records", "under-replicated", ""],
                    rows, id_="topics", empty="no topics yet")
    create = form("/topics/create",
                  field("name", "name", required=True), field("partitions", "partitions", size=4,
                                                              placeholder="default"),
                  field("replication factor", "replication_factor", size=4, placeholder="default"),
                  h("label", None, "configs (name=value lines) ",
                    h("textarea", {"name": "configs", "rows": 2, "cols": 30, "placeholder": "retention.ms=86400000"})),
                  h("input", {"type": "hidden", "name": "back", "value": "/topics"}),
                  button("Create topic"), id_="create-topic", read_only=ctx.read_only)
    return Page("Topics", "/topics", join([listing, h("h2", None, "Create a topic"), create]))


def render_topic(ctx: Ctx, request: Request) -> Page:
    name = first(request.query, "name").strip()
    if not name:
        raise InvalidRequest("name the topic: /topic?name=...")
    desc, configs = ctx.cluster.topic(name)
    read_only = ctx.read_only
    partitions = table(
        ["partition", "leader", "replicas", "replica states", "log start", "end (high watermark)", "size", ""],
        [[p.partition, p.leader if p.leader is not None else h("span", {"class": "bad"}, "none"),
          ", ".join(map(str, p.replicas)),
          "; ".join(f"{r}: {s}" for r, s in sorted(p.replica_states.items())) or "?",
          p.log_start_offset if p.log_start_offset is not None else "?", p.high_watermark, size(p.size_bytes),
          link("/messages", "browse", topic=name, partition=p.partition, **{"from": "end"})]
         for p in desc.partitions], id_="partitions")
    config_rows = table(["config", "value", "source", "default"],
                        [[k, str(c.value), c.source, str(c.default)] for k, c in sorted(configs.items())],
                        id_="configs")
    back = f"/topic?name={name}"
    alter = form("/topic/alter",
                 h("input", {"type": "hidden", "name": "topic", "value": name}),
                 h("input", {"type": "hidden", "name": "back", "value": back}),
                 h("label", None, "set (name=value lines) ",
                   h("textarea", {"name": "set", "rows": 2, "cols": 30, "placeholder": "retention.ms=3600000"})),
                 field("delete (names)", "delete", size=30), button("Alter configs"),
                 id_="alter-configs", read_only=read_only)
    grow = form("/topic/partitions",
                h("input", {"type": "hidden", "name": "topic", "value": name}),
                h("input", {"type": "hidden", "name": "back", "value": back}),
                field("partitions in all", "total", len(desc.partitions) + 1, size=4, type_="number"),
                button("Add partitions"), id_="add-partitions", read_only=read_only)
    delete = form("/topic/delete",
                  h("input", {"type": "hidden", "name": "topic", "value": name}),
                  h("input", {"type": "hidden", "name": "back", "value": back}),
                  field("type the topic's name to confirm", "confirm", size=20), button("Delete topic"),
                  id_="delete-topic", confirm=f"Delete topic {name} and all its records?", read_only=read_only)
    body = join([h("p", None, link("/messages", "Browse its messages", topic=name, partition=0, **{"from": "end"})),
                 h("h2", None, "Partitions"), partitions, h("h2", None, "Configs"), config_rows, alter,
                 h("h2", None, "Partitions: add"), grow, h("h2", None, "Delete"), delete])
    return Page(f"Topic {name}", "/topics", body)
