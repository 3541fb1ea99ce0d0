"""Pure parts of the runtime: the order records of a task's several inputs are processed in,
and loading an app for ``kraft streams run``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kraft.apis.streams import StreamsApp
from kraft.apis.streams.cli import load_app
from kraft.apis.streams.errors import DeadLetter, check_handler
from kraft.apis.streams.runtime import in_time_order
from kraft.apis.types import ConsumerRecord


def _rec(topic: str, partition: int, offset: int, ts: int) -> ConsumerRecord:
    return ConsumerRecord(topic, partition, offset, None, None, ts, [])


def test_in_time_order_takes_the_smallest_head_and_keeps_each_partitions_order() -> None:
    batch = [_rec("clicks", 0, 0, 50), _rec("clicks", 0, 1, 10), _rec("clicks", 0, 2, 60),
             _rec("users", 0, 0, 5), _rec("users", 0, 1, 55)]
    out = in_time_order(batch)
    assert [(r.topic, r.offset) for r in out] == [("users", 0), ("clicks", 0), ("clicks", 1), ("users", 1),
                                                  ("clicks", 2)]
    single = [_rec("t", 0, i, 100 - i) for i in range(5)]
    assert in_time_order(single) == single


def test_error_handlers_are_validated() -> None:
    assert check_handler("stop") == "stop" and check_handler(DeadLetter("dlq")) == DeadLetter("dlq")
    with pytest.raises(ValueError):
        check_handler("ignore")


def test_load_app_by_name_by_factory_and_by_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_streams_app.py").write_text(
        "from kraft.apis.streams import StreamsApp\n"
        "app = StreamsApp('a', '127.0.0.1:1', state_dir='s')\n"
        "def make():\n    return StreamsApp('b', '127.0.0.1:1', state_dir='s')\n"
        "not_an_app = 3\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert load_app("my_streams_app:app").app_id == "a"
        assert load_app("my_streams_app:make").app_id == "b"
        assert isinstance(load_app("my_streams_app"), StreamsApp)
        with pytest.raises(ValueError):
            load_app("my_streams_app:not_an_app")
        with pytest.raises(ValueError):
            load_app("my_streams_app:missing")
        with pytest.raises(ImportError):
            load_app("no_such_module_here:app")
    finally:
        sys.modules.pop("my_streams_app", None)


def test_streams_app_validates_its_settings() -> None:
    with pytest.raises(ValueError):
        StreamsApp("bad id", "127.0.0.1:1")
    with pytest.raises(ValueError):
        StreamsApp("ok", "127.0.0.1:1", on_error="ignore")
    with pytest.raises(ValueError):
        StreamsApp("ok", "127.0.0.1:1", commit_interval_ms=0)
