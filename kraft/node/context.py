"""What a request handler is given: the node's services and the facts of the request's connection.

Owns: ``NodeServices`` (the broker and the group coordinator, the only things handlers call) and
``HandlerContext`` (one per request: those services and who asked). The Kafka front end extends the
context with its header's facts (``kraft.node.kafka.context``).
Must not: hold state of its own, or give handlers a way to the broker's or coordinator's parts
(Raft host, replicas, stores).
"""

from __future__ import annotations

from dataclasses import dataclass

from kraft.groups.coordinator import GroupCoordinator
from kraft.node.broker import Broker


@dataclass(frozen=True, slots=True)
class NodeServices:
    broker: Broker
    coordinator: GroupCoordinator

    @classmethod
    def of(cls, broker: Broker) -> NodeServices:
        """The broker and the coordinator it feeds."""
        return cls(broker, broker.coordinator)


@dataclass(frozen=True, slots=True)
class HandlerContext:
    services: NodeServices
    client_host: str  # the client's address as this node's socket sees it ("" when unknown)

    @property
    def broker(self) -> Broker:
        return self.services.broker

    @property
    def coordinator(self) -> GroupCoordinator:
        return self.services.coordinator
