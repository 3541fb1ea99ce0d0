"""``kraft top``'s loop: observe the cluster every second on a thread, draw full-screen, act on keys.

Owns: the terminal (cbreak mode for single keys, restored on every exit; rich's alternate screen),
the refresh thread (``REFRESH_S``; an observation that fails keeps the last rows and says why) and
the redraw after each observation or key.
Must not: compute figures (``kraft.top.model``) or lay them out (``kraft.top.view``).
"""

from __future__ import annotations

import os
import select
import sys
import termios
import threading
import time
import tty
from collections.abc import Mapping

from rich.console import Console
from rich.live import Live

from kraft.top.collect import Collector
from kraft.top.model import Observation, Rows, rows_of
from kraft.top.view import ViewState, render

REFRESH_S = 1.0


class _Latest:
    """The newest rows, handed from the refresh thread to the drawing loop."""

    def __init__(self) -> None:
        self.rows = Rows()
        self.changed = threading.Event()
        self.lock = threading.Lock()

    def set(self, rows: Rows) -> None:
        with self.lock:
            self.rows = rows
        self.changed.set()

    def get(self) -> Rows:
        with self.lock:
            return self.rows


def _refresh(collector: Collector, latest: _Latest, stop: threading.Event) -> None:
    before: Observation | None = None
    while not stop.is_set():
        started = time.monotonic()
        now = collector.observe()
        latest.set(rows_of(now, before))
        before = now
        stop.wait(max(0.0, REFRESH_S - (time.monotonic() - started)))


def _read_key(fd: int, timeout_s: float) -> str | None:
    ready, _, _ = select.select([fd], [], [], timeout_s)
    if not ready:
        return None
    data = os.read(fd, 1)
    return data.decode(errors="replace") if data else "q"  # end of input: quit


def run(bootstrap: str, http_nodes: Mapping[int, str]) -> None:
    """Run until ``q`` (or Ctrl-C, or the end of input)."""
    if not sys.stdin.isatty():
        raise SystemExit("kraft top needs a terminal (its keys switch views); use kraft cluster metrics in scripts")
    collector = Collector(bootstrap, http_nodes)
    latest = _Latest()
    stop = threading.Event()
    worker = threading.Thread(target=_refresh, args=(collector, latest, stop), name="top-refresh", daemon=True)
    worker.start()
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    state: ViewState | None = ViewState()
    console = Console()
    try:
        tty.setcbreak(fd)
        with Live(console=console, screen=True, auto_refresh=False) as live:
            while state is not None:
                live.update(render(latest.get(), state, time.strftime("%H:%M:%S")), refresh=True)
                latest.changed.clear()
                key = _read_key(fd, 0.1)
                if key is not None:
                    state = state.key(key)
                    continue
                latest.changed.wait(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        stop.set()
        worker.join(timeout=2)
        collector.close()
