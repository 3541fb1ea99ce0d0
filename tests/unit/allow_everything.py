"""The authorization half of a test's fake broker: no ACL bindings, so every client may do everything
(the fakes of test_fetch_sessions, test_front_ends and test_kafka_configs inherit it)."""

from __future__ import annotations

from kraft.state.acls import EMPTY_ACLS, AclSet


class AllowEverything:
    def acls(self) -> AclSet:
        return EMPTY_ACLS

    def answer_without_acls(self) -> bool | None:
        return True

    def authorize(self, who: object, operation: int, resource_type: int, name: str) -> bool:
        return True

    def authorize_any_topic(self, who: object, operation: int) -> bool:
        return True
