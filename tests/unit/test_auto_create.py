"""Topic auto-creation's rules (``kraft.node.auto_create``), over a fake creator: which names are
created, what each name not there yet answers, one creation per name however many ask at once."""

from __future__ import annotations

import asyncio

import pytest

from kraft import errors
from kraft.node.auto_create import MAX_PER_REQUEST, TopicAutoCreator


class FakeTopics:
    def __init__(self, apply_at_once: bool = True) -> None:
        self.topics: set[str] = {"there"}
        self.created: list[str] = []
        self.apply_at_once = apply_at_once

    async def create(self, name: str) -> None:
        self.created.append(name)
        await asyncio.sleep(0)
        if name in self.topics:
            raise errors.TopicAlreadyExists(name)
        if self.apply_at_once:
            self.topics.add(name)


CASES = [
    ("an existing topic: nothing to do", True, "there", None, []),
    ("a new valid name is created", True, "fresh", None, ["fresh"]),
    ("off: unknown", False, "fresh", errors.UnknownTopicOrPartition, []),
    ("internal names are never created", True, "__consumer_offsets", errors.UnknownTopicOrPartition, []),
    ("an invalid name", True, "a/b", errors.InvalidTopic, []),
    ("an empty name", True, "", errors.InvalidTopic, []),
]


@pytest.mark.parametrize(("name", "enabled", "topic", "error", "created"), CASES, ids=[c[0] for c in CASES])
def test_rules(name: str, enabled: bool, topic: str, error: type[errors.KraftError] | None, created: list[str]) -> None:
    fake = FakeTopics()
    creator = TopicAutoCreator(enabled, fake.create, fake.topics.__contains__)
    answer = asyncio.run(creator.ensure([topic]))
    assert type(answer.get(topic)) is error if error else topic not in answer
    assert fake.created == created


def test_not_applied_here_yet_answers_leader_not_available() -> None:
    fake = FakeTopics(apply_at_once=False)  # committed on the metadata leader, not applied on this node
    creator = TopicAutoCreator(True, fake.create, fake.topics.__contains__)
    answer = asyncio.run(creator.ensure(["fresh"]))
    assert isinstance(answer["fresh"], errors.LeaderNotAvailable)


def test_one_creation_per_name_for_requests_at_once_and_a_bound_per_request() -> None:
    fake = FakeTopics()
    creator = TopicAutoCreator(True, fake.create, fake.topics.__contains__)

    async def many() -> list[dict[str, errors.KraftError]]:
        return await asyncio.gather(*(creator.ensure(["fresh", "fresh"]) for _ in range(5)))

    assert asyncio.run(many()) == [{}] * 5
    assert fake.created == ["fresh"]
    names = [f"t{i}" for i in range(MAX_PER_REQUEST + 3)]
    answer = asyncio.run(creator.ensure(names))
    assert sorted(answer) == sorted(names[MAX_PER_REQUEST:])
    assert all(isinstance(e, errors.UnknownTopicOrPartition) for e in answer.values())
