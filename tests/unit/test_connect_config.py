"""connectors.toml parsing and field validation: every error names the connector and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kraft.apis.connect import ConfigError, load_file, parse_connectors
from kraft.apis.connect.cli import connect_app
from kraft.apis.connect.connectors.file import FileSourceConnector
from kraft.apis.connect.fields import Field, positive, validate


def parse(*connectors: dict) -> list:
    return parse_connectors({"connector": list(connectors)}, "c.toml")


def test_valid_file_fills_defaults_and_loads_classes(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('''
[[connector]]
name = "shop-db"
class = "sqlite-source"
database = "shop.db"
tables = ["orders"]
topic_prefix = "shop."
[[connector.transforms]]
type = "drop"
fields = ["secret"]

[[connector]]
name = "lines"
class = "kraft.apis.connect.connectors.file:FileSourceConnector"
file = "in.log"
topic = "lines"
tasks_max = 2
''')
    shop, lines = load_file(path)
    assert (shop.name, shop.kind, shop.config["tables"], shop.config["snapshot_tables"]) == \
        ("shop-db", "source", ["orders"], None)
    assert shop.connector().topics() == ["shop.orders"]
    assert len(shop.transforms) == 1 and shop.group_id == "connect-shop-db"
    assert lines.cls is FileSourceConnector and lines.common["tasks_max"] == 2
    assert lines.config["batch_max_lines"] == 1000
    assert len(lines.connector().task_configs(2)) == 1  # a file is tailed by one task


def test_snapshot_tables_may_name_tables_with_or_without_schema() -> None:
    (pg,) = parse({"name": "a", "class": "postgres-source", "dsn": "x", "tables": ["orders", "s.items"],
                   "snapshot_tables": ["public.orders", "items"]})
    assert pg.config["snapshot_tables"] == ["public.orders", "items"]


def test_sink_tasks_split_the_group() -> None:
    (sink,) = parse({"name": "s", "class": "file-sink", "file": "f", "topics": ["a", "b"], "tasks_max": 3})
    assert sink.kind == "sink" and sink.connector().topics() == ["a", "b"]
    assert len(sink.connector().task_configs(sink.common["tasks_max"])) == 3


@pytest.mark.parametrize(("connector", "message"), [
    ({"class": "file-source", "file": "f", "topic": "t"}, "missing required field 'name'"),
    ({"name": "a", "file": "f", "topic": "t"}, "connector 'a': missing required field 'class'"),
    ({"name": "a", "class": "nope", "file": "f"}, "connector 'a': field 'class' must be one of"),
    ({"name": "a", "class": "no.such.module:X"}, "connector 'a': field 'class': cannot load"),
    ({"name": "a", "class": "file-source", "topic": "t"}, "connector 'a': missing required field 'file'"),
    ({"name": "a", "class": "file-source", "file": "f", "topic": "t", "fiel": 1}, "unknown field 'fiel'"),
    ({"name": "a", "class": "file-source", "file": 3, "topic": "t"}, "field 'file' must be a string, got 3"),
    ({"name": "a", "class": "file-source", "file": "f", "topic": "t", "tasks_max": 0}, "field 'tasks_max' must be > 0"),
    ({"name": "a", "class": "file-source", "file": "f", "topic": "t", "tasks_max": True},
     "field 'tasks_max' must be an integer"),
    ({"name": "a", "class": "sqlite-source", "database": "d", "tables": "orders"},
     "field 'tables' must be a list of strings"),
    ({"name": "a", "class": "sqlite-source", "database": "d", "tables": []}, "field 'tables' must not be empty"),
    ({"name": "a", "class": "postgres-sink", "dsn": "x", "topics": ["t"], "auto_create": "yes"},
     "field 'auto_create' must be true or false"),
    ({"name": "a", "class": "sqlite-sink", "database": "d", "topics": []}, "field 'topics' must not be empty"),
    ({"name": "a", "class": "file-source", "file": "f", "topic": "t", "group_id": "g"},
     "connector 'a': field 'group_id' is for sinks, and 'file-source' is a source"),
    ({"name": "a", "class": "file-sink", "file": "f", "topics": ["t"], "poll_interval_ms": 5},
     "connector 'a': field 'poll_interval_ms' is for sources, and 'file-sink' is a sink"),
    ({"name": "a", "class": "sqlite-source", "database": "d", "tables": ["orders"], "snapshot_tables": ["order"]},
     "connector 'a': field 'snapshot_tables': 'order' is not in tables ['orders']"),
    ({"name": "a", "class": "postgres-source", "dsn": "x", "tables": ["s.orders"], "snapshot_tables": ["t"]},
     "connector 'a': field 'snapshot_tables': 't' is not in tables ['s.orders']"),
    ({"name": "a", "class": "file-sink", "file": "f", "topics": ["t"], "transforms": [{"type": "explode"}]},
     "transforms[0].type must be one of"),
    ({"name": "a", "class": "file-sink", "file": "f", "topics": ["t"], "transforms": [{"type": "drop"}]},
     "transforms[0] (drop): missing required field 'fields'"),
    ({"name": "a", "class": "file-sink", "file": "f", "topics": ["t"], "transforms": [{"type": "filter"}]},
     "give 'field' or 'ops'"),
])
def test_bad_connector_config_names_the_field(connector: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(connector)
    assert message in str(info.value)
    assert str(info.value).startswith("c.toml")


def test_duplicate_names_and_empty_file_are_errors() -> None:
    one = {"name": "a", "class": "file-source", "file": "f", "topic": "t"}
    with pytest.raises(ConfigError, match="two connectors named 'a'"):
        parse(one, dict(one))
    with pytest.raises(ConfigError, match="no \\[\\[connector\\]\\] tables"):
        parse_connectors({}, "c.toml")
    with pytest.raises(ConfigError, match="unknown top-level key 'worker'"):
        parse_connectors({"connector": [one], "worker": {}}, "c.toml")


def test_validate_coerces_ints_to_floats_but_not_bools_to_ints() -> None:
    fields = (Field("rate", float, 1.0), Field("n", int, check=positive))
    assert validate(fields, {"n": 3, "rate": 2}, "x") == {"rate": 2.0, "n": 3}
    with pytest.raises(ConfigError, match="'n' must be an integer"):
        validate(fields, {"n": False}, "x")


def test_cli_run_reports_a_bad_file_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[connector]]\nname = "x"\nclass = "sqlite-source"\ndatabase = "d.db"\n')
    result = CliRunner().invoke(connect_app, ["run", str(path), "--bootstrap", "127.0.0.1:1"])
    assert result.exit_code == 1
    assert "error: INVALID_CONFIG" in result.output and "missing required field 'tables'" in result.output
    path.write_text("[[connector]\n")
    result = CliRunner().invoke(connect_app, ["run", str(path), "--bootstrap", "127.0.0.1:1"])
    assert result.exit_code == 1 and "not valid TOML" in result.output


def test_status_view_marks_silent_workers_unknown() -> None:
    from kraft.apis.connect.status import latest_view

    rows = [{"connector": "b", "task": 0, "state": "RUNNING", "updated_ms": 1_000, "worker": "w1", "error": None},
            {"connector": "a", "task": 1, "state": "RUNNING", "updated_ms": 50_000, "worker": "w2", "error": None},
            {"connector": "a", "task": 0, "state": "STOPPED", "updated_ms": 1_000, "worker": "w2", "error": None}]
    view = latest_view(rows, stale_after_ms=30_000, now_ms=60_000)
    assert [(r["connector"], r["task"], r["state"]) for r in view] == [
        ("a", 0, "STOPPED"), ("a", 1, "RUNNING"), ("b", 0, "UNKNOWN")]
    assert "no heartbeat from worker w1" in view[2]["error"]


def test_restart_backoff_resets_only_after_progress_or_a_stable_run() -> None:
    import threading
    import time
    from types import SimpleNamespace

    from kraft.apis.connect.worker import TaskRunner

    (spec,) = parse({"name": "s", "class": "file-sink", "file": "f", "topics": ["t"], "restart_backoff_ms": 100,
                     "restart_backoff_max_ms": 60_000})
    events: list[dict] = []
    worker = SimpleNamespace(worker_id="w", stopping=threading.Event(), emit=events.append,
                             publish_status=lambda status: None)
    runner = TaskRunner(worker, spec, 0, {})  # type: ignore[arg-type]
    runner._started_s = time.monotonic()
    runner._backoff_s = 0.8  # after a few failures
    runner._set(state="RUNNING", error="RuntimeError: poison record")
    runner._healthy(progress=False)  # an empty poll right after the restart proves nothing
    assert runner._backoff_s == 0.8 and runner.status["error"] == "RuntimeError: poison record"
    runner._healthy(progress=True)  # a batch went through: healthy again
    assert runner._backoff_s == 0.1 and runner.status["error"] is None
    runner._backoff_s, runner.status["error"] = 0.8, "x"
    runner._started_s = time.monotonic() - 61  # running without failure for restart_backoff_max_ms
    runner._healthy(progress=False)
    assert runner._backoff_s == 0.1 and runner.status["error"] is None
    assert [e["error"] for e in events] == ["RuntimeError: poison record", None, None]


def test_a_failed_task_heartbeats_while_it_waits_out_its_backoff() -> None:
    import threading
    import time
    from types import SimpleNamespace

    from kraft.apis.connect.worker import TaskRunner

    (spec,) = parse({"name": "s", "class": "file-sink", "file": "f", "topics": ["t"], "status_interval_ms": 50})
    published: list[dict] = []
    worker = SimpleNamespace(worker_id="w", stopping=threading.Event(), emit=lambda status: None,
                             publish_status=published.append)
    runner = TaskRunner(worker, spec, 0, {})  # type: ignore[arg-type]
    runner._backoff_s = 0.3
    start = time.monotonic()
    runner._wait_backoff()
    assert time.monotonic() - start >= 0.3
    assert len(published) >= 3  # a 30 s backoff would otherwise look like a dead worker to readers
    worker.stopping.set()
    runner._backoff_s = 60
    start = time.monotonic()
    runner._wait_backoff()  # the worker stopping ends the wait at once
    assert time.monotonic() - start < 5
