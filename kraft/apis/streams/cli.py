"""``kraft streams run module:app``: a Typer sub-app the top-level ``kraft`` command mounts.

``module`` is imported (the current directory first on the path, as ``python -m`` does); ``app``
names a :class:`~.app.StreamsApp` in it or a function returning one. Without ``:app``, the module
must hold exactly one StreamsApp. The app runs in the foreground until SIGINT or SIGTERM.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from kraft.bootstrap import find_cluster, require_reachable
from kraft.config import DEFAULT_CONFIG_FILE
from kraft.errors import KraftError

from .app import StreamsApp

streams_app = typer.Typer(help="Run Streams API applications.", no_args_is_help=True)


@streams_app.callback()
def _group() -> None:
    """Run Streams API applications."""  # a callback keeps ``run`` a sub-command when mounted alone


def load_app(target: str) -> StreamsApp:
    """The StreamsApp ``module[:attribute]`` names (raises ValueError with the reason)."""
    module_name, _, attr = target.partition(":")
    if not module_name:
        raise ValueError(f"expected module:app, got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    if attr:
        obj: Any = module
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise ValueError(f"module {module_name!r} has no attribute {attr!r}")
            obj = getattr(obj, part)
        if not isinstance(obj, StreamsApp) and callable(obj):
            obj = obj()
        if not isinstance(obj, StreamsApp):
            raise ValueError(f"{target} is a {type(obj).__name__}, not a StreamsApp")
        return obj
    found = [v for v in vars(module).values() if isinstance(v, StreamsApp)]
    if len(found) != 1:
        raise ValueError(f"module {module_name!r} holds {len(found)} StreamsApp objects; name one as module:app")
    return found[0]


@streams_app.command("run")
def run(
    target: Annotated[str, typer.Argument(help="module:app - the StreamsApp to run")],
    bootstrap: Annotated[str | None, typer.Option("--bootstrap", "-b",
                                                  help="HOST:PORT[,...]: overrides the app's bootstrap")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="cluster.ini whose nodes to use (default: "
                                                "./cluster.ini when there is one, else the app's bootstrap)")] = None,
    state_dir: Annotated[str | None, typer.Option("--state-dir", help="overrides the app's state_dir")] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR")] = "INFO",
) -> None:
    """Run a StreamsApp until SIGINT/SIGTERM (which close it cleanly: commit, leave the group)."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = load_app(target)
    except (ImportError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    try:
        # As every client command: --bootstrap, else --config, else ./cluster.ini; the app's own
        # bootstrap only when none of them is there.
        if bootstrap is not None or config is not None or Path(DEFAULT_CONFIG_FILE).is_file():
            app.bootstrap = find_cluster(bootstrap, config)
        else:
            require_reachable(app.bootstrap if isinstance(app.bootstrap, str) else ",".join(app.bootstrap))
    except KraftError as exc:
        typer.echo(f"error: {exc.name}: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    if state_dir is not None:
        app.state_dir = Path(state_dir)
    try:
        app.run()
    except Exception as exc:
        typer.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from exc


if __name__ == "__main__":  # python -m kraft.apis.streams.cli run module:app
    streams_app()
