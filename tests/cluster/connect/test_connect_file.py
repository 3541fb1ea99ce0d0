"""File source → kraft → file sink, resuming across a worker restart and a file rotation."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kraft.apis.connect import read_status
from kraft.apis.connect.cli import connect_app
from kraft.testing.local_cluster import Cluster, wait_for

from .helpers import running_worker

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(90)]


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_file_source_to_file_sink_resumes_after_restart_and_rotation(cluster1: Cluster, tmp_path: Path) -> None:
    src, dst = tmp_path / "in.log", tmp_path / "out.log"
    src.write_text("".join(f"line {i}\n" for i in range(50)) + "partial")
    connectors = [
        {"name": "tail", "class": "file-source", "file": str(src), "topic": "lines", "status_interval_ms": 200},
        {"name": "copy", "class": "file-sink", "file": str(dst), "topics": ["lines"], "status_interval_ms": 200},
    ]
    threads_before = set(threading.enumerate())
    with running_worker(cluster1.bootstrap, connectors):
        wait_for(lambda: len(lines(dst)) == 50, 30, "first 50 lines copied")
        with src.open("a") as f:
            f.write(" line\n")  # completes the partial line
        wait_for(lambda: len(lines(dst)) == 51, 30, "completed line copied")
    assert lines(dst) == [f"line {i}" for i in range(50)] + ["partial line"]

    # While the worker is down: more lines, then rotation, then lines in the new file.
    with src.open("a") as f:
        f.write("before rotation\n")
    os.rename(src, tmp_path / "in.log.1")
    src.write_text("after rotation 1\nafter rotation 2\n")
    with running_worker(cluster1.bootstrap, connectors):
        wait_for(lambda: len(lines(dst)) >= 54, 30, "rest of the old file, then the new file's lines copied")
        # Rotation while running: the rest of the old file first, then the new one.
        with src.open("a") as f:
            f.write("old tail\n")
        os.rename(src, tmp_path / "in.log.2")
        src.write_text("fresh\n")
        wait_for(lambda: len(lines(dst)) >= 56, 30, "rotated-while-running lines copied")

        def both_reported() -> list[dict] | None:
            rows = [s for s in read_status(cluster1.bootstrap) if s["state"] == "RUNNING" and s["records"] > 0]
            # The sink's lag is 0 once it has written every line (reported with its heartbeat).
            caught_up = any(s["connector"] == "copy" and s["lag"] == 0 and s["records"] >= 5 for s in rows)
            return rows if {s["connector"] for s in rows} == {"tail", "copy"} and caught_up else None

        statuses = wait_for(both_reported, 20, "status of both connectors", interval_s=0.5)
    # A stopped worker leaves no thread behind (tasks, producers, consumers, admin).
    wait_for(lambda: not set(threading.enumerate()) - threads_before, 10, "the worker's threads gone")
    got = lines(dst)
    # The line written to the old file while the worker was down comes first (the rotated file is
    # found by its inode), then the new file; nothing is repeated.
    assert got[51:] == ["before rotation", "after rotation 1", "after rotation 2", "old tail", "fresh"]
    assert {s["kind"] for s in statuses} == {"source", "sink"}
    assert next(s for s in statuses if s["connector"] == "tail")["last_offset"]["position"] > 0

    # `kraft connect status` reads the status topic: both tasks stopped cleanly, with their counts.
    result = CliRunner().invoke(connect_app, ["status", "--bootstrap", cluster1.bootstrap, "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["tasks"]
    assert [(r["connector"], r["state"]) for r in rows] == [("copy", "STOPPED"), ("tail", "STOPPED")]
    assert next(r for r in rows if r["connector"] == "copy")["records"] >= 4  # counted by the second run
    table = CliRunner().invoke(connect_app, ["status", "--bootstrap", cluster1.bootstrap])
    assert table.exit_code == 0 and "STOPPED" in table.output and "connector" in table.output.splitlines()[0]


def test_a_connector_whose_topic_cannot_be_created_fails_alone(cluster1: Cluster, tmp_path: Path) -> None:
    src = tmp_path / "in.log"
    src.write_text("one\n")
    connectors = [
        {"name": "bad", "class": "file-source", "file": str(src), "topic": "no spaces allowed"},
        {"name": "good", "class": "file-source", "file": str(src), "topic": "good-lines"},
    ]
    with running_worker(cluster1.bootstrap, connectors) as worker:
        bad = wait_for(lambda: next((s for s in worker.statuses() if s["connector"] == "bad" and s["error"]), None),
                       30, "the bad connector failing")
        assert "invalid topic name" in bad["error"]
        wait_for(lambda: worker.statuses()[1]["records"] == 1, 30, "the good connector delivering")
        assert worker.statuses()[1]["state"] == "RUNNING" and worker.statuses()[1]["error"] is None
