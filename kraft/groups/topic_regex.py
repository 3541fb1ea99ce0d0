"""Topic regexes of KIP-848 subscriptions (ConsumerGroupHeartbeat v1's SubscribedTopicRegex).

Owns: compiling a member's regex (RE2 syntax, as Kafka's RE2/J; INVALID_REGULAR_EXPRESSION when it
does not compile, or is longer than ``REGEX_MAX_CHARS``) and the topics it selects (a whole-name
match, as Kafka's ``matcher(topic).matches()``). RE2 matches in linear time, so a client's regex
cannot stall the coordinator's loop the way a backtracking one could. Must not: know about members
or groups (kraft.groups.consumer_group asks it).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import re2

from kraft import errors

REGEX_MAX_CHARS = 1024  # a subscription regex longer than this is refused
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a client's bad regex is its error, answered, not a line in the node's log


class TopicRegex:
    """A compiled subscription regex."""

    __slots__ = ("_compiled", "pattern")

    def __init__(self, pattern: str) -> None:
        if len(pattern) > REGEX_MAX_CHARS:
            raise errors.InvalidRegularExpression(f"SubscribedTopicRegex is over {REGEX_MAX_CHARS} characters")
        try:
            self._compiled = re2.compile(pattern, _OPTIONS)
        except re2.error as e:
            detail = e.args[0] if e.args else ""
            detail = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
            raise errors.InvalidRegularExpression(
                f"SubscribedTopicRegex {pattern!r} is not valid RE2: {detail}") from None
        self.pattern = pattern

    def matches(self, topic: str) -> bool:
        return self._compiled.fullmatch(topic) is not None

    def select(self, topics: Iterable[str]) -> tuple[str, ...]:
        """The topics it matches, sorted."""
        return tuple(sorted(t for t in topics if self.matches(t)))


@lru_cache(maxsize=256)
def compile_regex(pattern: str) -> TopicRegex:
    """One compiled regex per pattern (members of a group usually share theirs)."""
    return TopicRegex(pattern)
