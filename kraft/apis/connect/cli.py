"""``kraft connect run FILE`` and ``kraft connect status``: a Typer sub-app (wired into cli.py as
``app.add_typer(connect_app, name="connect")``). Thin: parsing and printing only."""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from kraft import cli_format as fmt
from kraft.bootstrap import find_cluster
from kraft.errors import KraftError

from .config import load_file
from .fields import ConfigError
from .status import DEFAULT_TOPIC as STATUS_TOPIC
from .status import read_status
from .worker import Worker

connect_app = typer.Typer(help="Run connectors (files, SQLite, PostgreSQL) and see their status.",
                          no_args_is_help=True)

BootstrapOpt = Annotated[str | None, typer.Option("--bootstrap", "-b", help="HOST:PORT[,HOST:PORT...] of kraft "
                                                                          "nodes (instead of --config)")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="cluster.ini (default: ./cluster.ini, else "
                                                                      "one built-in local node)")]
StatusTopicOpt = Annotated[str, typer.Option("--status-topic", help="Topic the workers publish status to.")]
STATUS_HEADERS = ["connector", "task", "kind", "class", "state", "records", "lag", "last_offset", "restarts",
                  "worker", "error"]


@contextlib.contextmanager
def _errors(as_json: bool = False) -> Iterator[None]:
    try:
        yield
    except ConfigError as exc:
        _fail(as_json, "INVALID_CONFIG", str(exc))
    except KraftError as exc:
        _fail(as_json, exc.name, exc.message)
    except TimeoutError as exc:
        _fail(as_json, "REQUEST_TIMED_OUT", str(exc))


def _fail(as_json: bool, name: str, message: str) -> None:
    if as_json:
        typer.echo(fmt.dumps({"error": name, "message": message}))
    else:
        typer.echo(f"error: {name}: {message}", err=True)
    raise typer.Exit(1)


def _progress(status: dict[str, Any]) -> None:
    error = f" ({status['error']})" if status.get("error") else ""
    typer.echo(f"{status['connector']}/{status['task']}: {status['state']}{error}", err=True)


@connect_app.command("run")
def run(
    file: Annotated[Path, typer.Argument(help="connectors.toml with [[connector]] tables.")],
    bootstrap: BootstrapOpt = None,
    config: ConfigOpt = None,
    worker_id: Annotated[str | None, typer.Option("--worker-id", help="Name in status (default host:pid).")] = None,
    report_s: Annotated[float, typer.Option("--report-s", min=0.0, help="Print counts every N s (0: never).")] = 10.0,
) -> None:
    """Run every connector of FILE until interrupted (Ctrl-C or SIGTERM stop it cleanly)."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with _errors():
        specs = load_file(file)
        worker = Worker(find_cluster(bootstrap, config), specs, worker_id=worker_id, on_event=_progress)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: worker.stopping.set())
        worker.start()
        typer.echo(f"running {len(worker.runners)} task(s) of {len(specs)} connector(s); Ctrl-C stops", err=True)
        next_report = time.monotonic() + report_s
        while not worker.stopping.wait(0.5):
            if report_s and time.monotonic() >= next_report:
                next_report += report_s
                typer.echo("  ".join(f"{s['connector']}/{s['task']} {s['state']} {s['records']} records"
                                     for s in worker.statuses()), err=True)
        worker.stop()


@connect_app.command("status")
def status(
    bootstrap: BootstrapOpt = None,
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")] = False,
    status_topic: StatusTopicOpt = STATUS_TOPIC,
    stale_after_ms: Annotated[int, typer.Option("--stale-after-ms", min=1,
                                                help="Show a task as UNKNOWN after this long without news.")] = 30000,
) -> None:
    """Each connector's tasks: state, records moved, lag (sinks) or last source offset, errors."""
    with _errors(as_json):
        rows = read_status(find_cluster(bootstrap, config), status_topic, stale_after_ms=stale_after_ms)
    if as_json:
        typer.echo(fmt.dumps({"tasks": rows}))
        return
    if not rows:
        typer.echo("no connectors have reported status")
        return
    typer.echo(fmt.render_table(STATUS_HEADERS, [[_cell(r.get(h)) for h in STATUS_HEADERS] for r in rows]))


def _cell(value: Any) -> Any:
    if isinstance(value, dict):
        return fmt.dumps(value)
    return "" if value is None else value
