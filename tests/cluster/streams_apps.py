"""Streams apps that the cluster tests run in their own processes (``python -m
kraft.apis.streams.cli run tests.cluster.streams_apps:NAME``), configured by environment:
KRAFT_BOOTSTRAP, STREAMS_STATE_DIR, STREAMS_APP_ID, STREAMS_WORK_S_PER_LINE, STREAMS_MAX_POLL_RECORDS."""

from __future__ import annotations

import os
import time
from typing import Any

from kraft.apis.streams import Serde, StreamsApp

FAST_GROUP = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 300}


def word_count_app(bootstrap: str, state_dir: str, app_id: str = "wordcount",
                   commit_interval_ms: int = 200, work_s_per_line: float = 0, **options: Any) -> StreamsApp:
    """``work_s_per_line`` stands for expensive user code, so that a kill lands mid-run."""
    app = StreamsApp(app_id, bootstrap, state_dir=state_dir, commit_interval_ms=commit_interval_ms,
                     consumer_config=FAST_GROUP, **options)
    lines = app.stream("text-lines", value_serde=Serde.str)
    if work_s_per_line:
        lines = lines.peek(lambda _k, _v: time.sleep(work_s_per_line))  # sleep-ok: stands for slow user code
    (lines
        .flat_map_values(str.split)
        .group_by(lambda key, word: word)
        .count(store="word-counts")
        .to_stream()
        .to("word-counts", value_serde=Serde.int))
    return app


def wordcount() -> StreamsApp:
    app = word_count_app(os.environ["KRAFT_BOOTSTRAP"], os.environ["STREAMS_STATE_DIR"],
                         os.environ.get("STREAMS_APP_ID", "wordcount"),
                         work_s_per_line=float(os.environ.get("STREAMS_WORK_S_PER_LINE", "0")))
    if "STREAMS_MAX_POLL_RECORDS" in os.environ:  # small batches: a slow app still rejoins promptly
        app.consumer_config["max_poll_records"] = int(os.environ["STREAMS_MAX_POLL_RECORDS"])
    return app
