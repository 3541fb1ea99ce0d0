"""The ``kraft`` command: a thin Typer shell over kraft.config, kraft.node.supervisor and the client.

Each command parses its options, calls the library and prints the answer: a table for people or one
JSON document (``--json``) for scripts. Expected failures (any KraftError) end as one line
``error: NAME: message`` on stderr — or ``{"error": NAME, "code": n, "message": ...}`` on stdout in
JSON mode, so a script reading stdout always gets JSON — and exit code 1. The client library is
imported inside the commands that use it, so ``--help`` and the process commands never load it.
"""

from __future__ import annotations

import contextlib
import enum
import os
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from kraft import bootstrap as bootstrap_lookup
from kraft import cli_format as fmt
from kraft.apis.connect.cli import connect_app
from kraft.apis.streams.cli import streams_app
from kraft.bootstrap import resolve_bootstrap
from kraft.config import ClusterConfig, load_config
from kraft.errors import ConfigError, KraftConnectionError, KraftError, RequestTimedOut, UnknownTopicOrPartition
from kraft.node.supervisor import SIGNALS, ProcessState, Supervisor

if TYPE_CHECKING:
    from kraft import Admin

app = typer.Typer(
    name="kraft",
    help="kraft: a Kafka-like streaming platform. Run nodes, manage topics, produce and consume.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold record data; tracebacks are for bugs only
)
node_app = typer.Typer(help="Run a node in the foreground.", no_args_is_help=True)
cluster_app = typer.Typer(help="Start, stop and inspect the nodes of a cluster.ini.", no_args_is_help=True)
topic_app = typer.Typer(help="Create, list, describe and delete topics.", no_args_is_help=True)
group_app = typer.Typer(help="List and describe consumer groups; reset their offsets.", no_args_is_help=True)
acl_app = typer.Typer(help="List, add and remove ACL bindings (Kafka's ACLs: see README, ACLs).", no_args_is_help=True)
app.add_typer(node_app, name="node")
app.add_typer(cluster_app, name="cluster")
app.add_typer(topic_app, name="topic")
app.add_typer(group_app, name="group")
app.add_typer(acl_app, name="acl")
app.add_typer(streams_app, name="streams")
app.add_typer(connect_app, name="connect")

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="cluster.ini (default: ./cluster.ini, else one built-in local node)"),
]
BootstrapOpt = Annotated[
    str | None,
    typer.Option("--bootstrap", "-b", help="HOST:PORT[,HOST:PORT...] of nodes to contact (instead of --config)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")]
NodeOpt = Annotated[
    int | None, typer.Option("--node", "-n", min=1, help="Node id (optional when the file has one node).")
]
TimeoutOpt = Annotated[float, typer.Option("--timeout-s", min=0.0, help="How long to wait for the nodes.")]

PRODUCE_PENDING_MAX = 10_000  # unacknowledged sends kept before waiting on the oldest (bounds memory)
PROGRESS_INTERVAL_S = 0.2
CONSUME_POLL_MS = 200
GROUP_COMMIT_INTERVAL_S = 1.0  # kraft consume --group: how often printed positions are committed
STATUS_TIMEOUT_S = 5.0
ELECT_TIMEOUT_S = 30.0
ELECT_PROGRESS_MIN = 100  # kraft cluster elect-leaders reports progress above this many partitions


class SignalName(enum.StrEnum):
    KILL = "KILL"
    TERM = "TERM"
    STOP = "STOP"
    CONT = "CONT"


class Acks(enum.StrEnum):
    ALL = "all"
    ONE = "1"
    NONE = "0"


# ---------------------------------------------------------------------------------------------------
# shared plumbing


@contextlib.contextmanager
def reported_errors(as_json: bool) -> Iterator[None]:
    """Turn expected errors into one line and exit code 1; anything else is a bug and keeps its traceback."""
    try:
        yield
    except KraftError as exc:
        if as_json:
            typer.echo(fmt.dumps(fmt.error_json(exc)))
        else:
            typer.echo(fmt.error_text(exc), err=True)
        raise typer.Exit(1) from None
    except BrokenPipeError:
        # `kraft consume ... | head`: the reader left, which is not an error. Point stdout at
        # /dev/null so the interpreter's final flush does not raise again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None


def echo_json(obj: object) -> None:
    typer.echo(fmt.dumps(obj))


def progress(message: str) -> None:
    """A progress line on stderr, so stdout stays clean for tables and JSON."""
    typer.echo(message, err=True)


def find_cluster(bootstrap: str | None, config: Path | None) -> str:
    """A client command's bootstrap list (kraft.bootstrap's order), refused within a few seconds
    with NETWORK_EXCEPTION when no node of it accepts connections."""
    return bootstrap_lookup.find_cluster(bootstrap, config)


def pick_node(config: ClusterConfig, node: int | None) -> int:
    if node is not None:
        return config.node(node).id
    if len(config.nodes) == 1:
        return config.node_ids[0]
    ids = ", ".join(str(i) for i in config.node_ids)
    raise ConfigError(f"{config.source} has nodes {ids}: choose one with --node")


@contextlib.contextmanager
def admin_client(bootstrap: str, request_timeout_ms: int = 30000) -> Iterator[Admin]:
    from kraft import Admin

    admin = Admin(bootstrap, request_timeout_ms=request_timeout_ms)
    try:
        yield admin
    finally:
        admin.close()


# ---------------------------------------------------------------------------------------------------
# kraft node


@node_app.command("start")
def node_start(config: ConfigOpt = None, node: NodeOpt = None) -> None:
    """Run one node of the config file in the foreground; Ctrl-C stops it."""
    with reported_errors(as_json=False):
        cfg = load_config(config)
        node_id = pick_node(cfg, node)
        from kraft.node.main import run_node

        with contextlib.suppress(KeyboardInterrupt):
            run_node(cfg, node_id)


# ---------------------------------------------------------------------------------------------------
# kraft cluster (local processes)


@cluster_app.command("up")
def cluster_up(config: ConfigOpt = None, timeout_s: TimeoutOpt = 30.0, as_json: JsonOpt = False) -> None:
    """Start every node of the config file as a background process and wait until each listens."""
    with reported_errors(as_json):
        cfg = load_config(config)
        supervisor = Supervisor(cfg)
        rows = [start_node(supervisor, node_id) for node_id in cfg.node_ids]
        deadline = time.monotonic() + timeout_s  # one deadline: the nodes start up in parallel
        for node_id, row in zip(cfg.node_ids, rows, strict=True):
            if row["state"] == "started":
                progress(f"waiting for node {node_id} on {row['address']} ...")
                supervisor.wait_ready(node_id, deadline)
        print_rows(rows, as_json, key="nodes")


def start_node(supervisor: Supervisor, node_id: int) -> dict[str, object]:
    """Start one node unless it runs already; a row for the output."""
    pid = supervisor.running_pid(node_id)
    state = "already running"
    if pid is None:
        pid = supervisor.start(node_id)
        state = "started"
    node = supervisor.config.node(node_id)
    kafka = f"{node.host}:{node.kafka_port}" if node.kafka_port is not None else None
    return {"node": node_id, "address": node.client_address, "kafka": kafka, "pid": pid, "state": state,
            "log": str(supervisor.log_file(node_id))}


def print_rows(rows: Sequence[dict[str, object]], as_json: bool, key: str) -> None:
    if as_json:
        echo_json({key: list(rows)})
    elif rows:
        typer.echo(fmt.render_table(list(rows[0]), [list(r.values()) for r in rows]))


@cluster_app.command("start")
def cluster_start(
    config: ConfigOpt = None, node: NodeOpt = None, timeout_s: TimeoutOpt = 30.0, as_json: JsonOpt = False
) -> None:
    """Start one node of the config file in the background (again, after `kraft cluster kill`)."""
    with reported_errors(as_json):
        cfg = load_config(config)
        supervisor = Supervisor(cfg)
        node_id = pick_node(cfg, node)
        row = start_node(supervisor, node_id)
        if row["state"] == "started":
            progress(f"waiting for node {node_id} on {row['address']} ...")
            supervisor.wait_ready(node_id, time.monotonic() + timeout_s)
        print_rows([row], as_json, key="nodes")


@cluster_app.command("down")
def cluster_down(config: ConfigOpt = None, timeout_s: TimeoutOpt = 10.0, as_json: JsonOpt = False) -> None:
    """Stop every node of the config file: SIGTERM, then SIGKILL for any still running after --timeout-s."""
    with reported_errors(as_json):
        cfg = load_config(config)
        progress(f"stopping {len(cfg.nodes)} node(s) ...")
        results = Supervisor(cfg).down(timeout_s=timeout_s)
        print_rows([{"node": n, "result": r.value} for n, r in results.items()], as_json, key="nodes")


@cluster_app.command("kill")
def cluster_kill(
    config: ConfigOpt = None,
    node: NodeOpt = None,
    signal_name: Annotated[
        SignalName, typer.Option("--signal", "-s", case_sensitive=False, help="KILL (crash), TERM, STOP (pause), CONT")
    ] = SignalName.KILL,
    as_json: JsonOpt = False,
) -> None:
    """Send a signal to one node's process, to test failures: KILL crashes it, STOP pauses it, CONT resumes it."""
    with reported_errors(as_json):
        cfg = load_config(config)
        node_id = pick_node(cfg, node)
        pid = Supervisor(cfg).kill(node_id, SIGNALS[signal_name.value])
        if as_json:
            echo_json({"node": node_id, "pid": pid, "signal": signal_name.value})
        else:
            typer.echo(f"node {node_id} (pid {pid}): sent SIG{signal_name.value}")


@cluster_app.command("status")
def cluster_status(
    config: ConfigOpt = None,
    bootstrap: BootstrapOpt = None,
    timeout_s: Annotated[
        float, typer.Option("--timeout-s", min=0.1, help="How long to wait for the nodes, then for the topics.")
    ] = STATUS_TIMEOUT_S,
    as_json: JsonOpt = False,
) -> None:
    """Which nodes answer, the cluster's id and controller, and every partition's leader, replicas and
    high watermark."""
    with reported_errors(as_json):
        nodes = status_nodes(config, bootstrap)
        probes = probe_all([str(n["address"]) for n in nodes], timeout_s)
        for row, (state, detail) in zip(nodes, probes, strict=True):
            row.update(state=state, detail=detail)
        up = [str(n["address"]) for n in nodes if n["state"] == "up"]
        cluster: Any = None
        topics: list[Any] | None = None
        problem: KraftError | None = KraftConnectionError("no node answered")
        if up:
            try:
                cluster, topics = call_with_deadline(
                    lambda: describe_all(",".join(up), max(100, int(timeout_s * 400))), timeout_s, "topics")
                problem = None
            except KraftError as exc:
                problem = exc
        print_status(nodes, cluster, topics, as_json)
        if problem is not None:
            # On stderr in JSON mode too: stdout already holds the one JSON document of the command.
            typer.echo(fmt.error_text(problem), err=True)
            raise typer.Exit(1)


T = TypeVar("T")


def call_with_deadline(fn: Callable[[], T], timeout_s: float, what: str) -> T:
    """fn() in a daemon thread, abandoned after ``timeout_s``: a paused node (SIGSTOP) accepts TCP
    connections but never answers, and the client would wait its full request timeout for it."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(fn())
        except BaseException as exc:  # handed to the caller's thread, which decides
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if failure:
        raise failure[0]
    if not outcome:
        raise RequestTimedOut(f"{what}: no answer within {timeout_s:g} s (is a node paused?)")
    return outcome[0]


def status_nodes(config: Path | None, bootstrap: str | None) -> list[dict[str, object]]:
    """Rows for the nodes to probe: the bootstrap addresses as given, or the config's nodes with what
    this machine knows of their processes (only nodes started here have a pid file)."""
    if bootstrap is not None:
        addresses = [a.strip() for a in resolve_bootstrap(bootstrap, None).split(",") if a.strip()]
        return [{"node": None, "address": a, "process": None} for a in addresses]
    cfg = load_config(config)
    supervisor = Supervisor(cfg)
    rows: list[dict[str, object]] = []
    for node_id in cfg.node_ids:
        proc = supervisor.status(node_id)
        process = None if proc.state is ProcessState.NOT_RUNNING else f"{proc.state.value} (pid {proc.pid})"
        rows.append({"node": node_id, "address": cfg.node(node_id).client_address, "process": process})
    return rows


def probe_all(addresses: Sequence[str], timeout_s: float) -> list[tuple[str, str | None]]:
    """Ask every node at once for its topics; (up | down | no answer, detail) each.

    A refused TCP connect is "down" at once (the client would retry it until its request timeout).
    A node that accepts but does not answer in time is "no answer": a paused node (SIGSTOP) still
    accepts connections in the kernel. Probes run in daemon threads abandoned at the deadline, so
    such a node cannot hang the command.
    """
    results: list[tuple[str, str | None]] = [("no answer", f"nothing within {timeout_s:g} s")] * len(addresses)

    def probe(i: int, address: str) -> None:
        refused = tcp_refused(address, timeout_s)
        if refused is not None:
            results[i] = ("down", refused)
            return
        try:
            with admin_client(address) as admin:
                admin.list_topics()
            results[i] = ("up", None)
        except KraftError as exc:
            results[i] = ("up", f"{exc.name}: {exc.message}")  # it answered, if only with an error

    threads = [threading.Thread(target=probe, args=(i, a), daemon=True) for i, a in enumerate(addresses)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout_s
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return list(results)


def tcp_refused(address: str, timeout_s: float) -> str | None:
    """Why a TCP connect to ``host:port`` fails, or None when it connects."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return f"{address!r} is not HOST:PORT"
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return None
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__


def describe_all(bootstrap: str, request_timeout_ms: int = 30000) -> tuple[Any, list[Any]]:
    """The ClusterDescription, and the TopicDescription of every topic; one deleted meanwhile is left
    out. A leader that does not answer within the timeout (paused) shows high watermark -1 instead of
    failing the whole table."""
    descriptions = []
    with admin_client(bootstrap, request_timeout_ms) as admin:
        cluster = admin.describe_cluster()
        for name in sorted(admin.list_topics()):
            with contextlib.suppress(UnknownTopicOrPartition):
                descriptions.append(admin.describe_topic(name))
    return cluster, descriptions


def print_status(nodes: list[dict[str, object]], cluster: Any, topics: list[Any] | None, as_json: bool) -> None:
    """The nodes table, the cluster's id and controller, then the partitions table (cluster and
    topics None: they could not be read)."""
    if as_json:
        echo_json({"cluster_id": None if cluster is None else cluster.cluster_id,
                   "controller": None if cluster is None else cluster.controller,
                   "metadata_voters": None if cluster is None else list(cluster.metadata_voters),
                   "metadata_learners": None if cluster is None else list(cluster.metadata_learners),
                   "nodes": nodes, "topics": None if topics is None else [topic_json(t) for t in topics],
                   "under_replicated_partitions": None if topics is None else
                   sum(p.under_replicated for t in topics for p in t.partitions)})
        return
    headers = ["node", "address", "state", "process", "detail"]
    typer.echo(fmt.render_table(headers, [[n[h] for h in headers] for n in nodes]))
    typer.echo("")
    typer.echo(fmt.cluster_line(cluster))
    if topics is None:
        typer.echo("topics: unknown")
        return
    rows = [[t.name, *fmt.partition_row(p)] for t in topics for p in t.partitions]
    typer.echo(fmt.render_table(["topic", *fmt.PARTITION_HEADERS], rows) if rows else "no topics")
    typer.echo(f"\nunder-replicated partitions: {sum(p.under_replicated for t in topics for p in t.partitions)}")


def topic_json(description: Any) -> dict[str, object]:
    return {"name": description.name, "partitions": [fmt.partition_json(p) for p in description.partitions]}


@cluster_app.command("metrics")
def cluster_metrics(
    config: ConfigOpt = None,
    node: Annotated[int | None, typer.Option("--node", "-n", min=1, help="Only this node (default: every "
                                             "node of the file, or of the cluster, with an http_port).")] = None,
    http: Annotated[str | None, typer.Option("--http", help="Scrape this HOST:PORT (a node's http_port) "
                                             "instead of the file's nodes.")] = None,
    bootstrap: BootstrapOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A node's key figures from its /metrics and /health/ready: a row per figure, a column per node.
    With --bootstrap, the nodes and their HTTP ports are the cluster's node registry's (what each node
    announced when it started). Exit code 1 when a node asked for cannot be scraped."""
    from kraft.metrics_client import KEY_FIGURES, NodeFigures, scrape

    with reported_errors(as_json):
        if http is not None:
            targets: list[tuple[int | None, str | None]] = [(node, http)]
        elif bootstrap is not None:
            targets = registry_http_targets(bootstrap, node)
        else:
            cfg = load_config(config)
            ids = [cfg.node(node).id] if node is not None else cfg.node_ids
            targets = [(i, cfg.node(i).http_address) for i in ids]
            if all(address is None for _, address in targets):
                raise ConfigError(f"{cfg.source}: no node has an http_port (add one to [node.N])")
        results: list[NodeFigures] = [
            scrape(address, node_id) if address is not None
            else NodeFigures(node_id, "-", None, error="no http_port in the " + ("cluster's node registry" if bootstrap
                                                                               else "config"))
            for node_id, address in targets]
    if as_json:
        echo_json({"nodes": [{"node": r.node, "address": r.address, "ready": r.ready, "error": r.error,
                              "figures": r.figures} for r in results]})
    else:
        heads = ["figure", *[f"node {r.node}" if r.node is not None else r.address for r in results]]
        rows: list[list[object]] = [["address", *[r.address for r in results]],
                                    ["ready", *["-" if r.ready is None else "yes" if r.ready else "NO"
                                                for r in results]]]
        rows += [[label, *[fmt.figure_cell(r.figures.get(key), unit) for r in results]]
                 for key, label, unit, _figure in KEY_FIGURES]
        typer.echo(fmt.render_table(heads, rows))
        for r in results:
            if r.error is not None:
                typer.echo(f"node {r.node if r.node is not None else r.address}: {r.error}", err=True)
    if any(r.error is not None for r in results if node is not None or http is not None) \
            or all(r.error is not None for r in results):
        raise typer.Exit(1)


def registry_http_targets(bootstrap: str, node: int | None) -> list[tuple[int | None, str | None]]:
    """(node id, HTTP address or None) of every node of the cluster's registry (or only ``node``)."""
    with admin_client(find_cluster(bootstrap, None)) as admin:
        nodes = admin.describe_cluster().nodes
    targets: list[tuple[int | None, str | None]] = [(n.node_id, n.http_address) for n in nodes
                                                    if node is None or n.node_id == node]
    if node is not None and not targets:
        raise ConfigError(f"node {node} is not in the cluster's node registry (nodes: "
                          f"{', '.join(str(n.node_id) for n in nodes) or 'none'})")
    if all(address is None for _, address in targets):
        raise ConfigError("no node of the cluster announced an http_port (nodes started before kraft announced "
                          "it do so at their next start; or name the nodes with --config or --http)")
    return targets


@cluster_app.command("elect-leaders")
def cluster_elect_leaders(
    topic: Annotated[str | None, typer.Option("--topic", "-t", help="Only this topic (default: every topic).")] = None,
    partition: Annotated[
        list[int] | None,
        typer.Option("--partition", "-p", min=0, help="Only this partition of --topic; repeat for more."),
    ] = None,
    bootstrap: BootstrapOpt = None,
    config: ConfigOpt = None,
    timeout_s: Annotated[
        float, typer.Option("--timeout-s", min=0.0, help="How long a preferred replica may take to lead.")
    ] = ELECT_TIMEOUT_S,
    as_json: JsonOpt = False,
) -> None:
    """Make each partition's preferred replica (the first of its replicas) its leader, now; print each
    partition's outcome. Exit code 1 when a preferred replica does not lead by the timeout."""
    if partition and topic is None:
        raise typer.BadParameter("--partition needs --topic", param_hint="--partition")
    with reported_errors(as_json), admin_client(find_cluster(bootstrap, config)) as admin:
        def report(answered: int, total: int) -> None:
            if total > ELECT_PROGRESS_MIN:
                progress(f"elect-leaders: {answered}/{total} partitions answered")

        results = admin.elect_leaders(topic, partition or None, timeout_ms=int(timeout_s * 1000), on_progress=report)
        if as_json:
            echo_json(fmt.elections_json(results))
        else:
            if results:
                typer.echo(fmt.render_table(fmt.ELECTION_HEADERS, [fmt.election_row(e) for e in results]))
                typer.echo("")
            typer.echo(fmt.elections_summary(results))
        if not all(e.preferred_leads for e in results):
            raise typer.Exit(1)


MOVES_TIMEOUT_S = 3600.0  # kraft cluster rebalance / decommission: how long to wait for the moves by default
DECOMMISSION_POLL_S = 0.5
NODE_STATUS_TIMEOUT_MS = 3000


def print_plan(plan: fmt.PlanLike, as_json: bool, **extra: object) -> None:
    """The plan's moves and its per-node counts (JSON: one document with ``extra`` fields)."""
    if as_json:
        echo_json({**fmt.plan_json(plan), **extra})
        return
    if plan.moves:
        typer.echo(fmt.render_table(fmt.MOVE_HEADERS, [fmt.move_row(m) for m in plan.moves]))
        typer.echo("")
    typer.echo(fmt.render_table(fmt.PLAN_NODE_HEADERS, fmt.plan_node_rows(plan)))
    typer.echo("")
    typer.echo(fmt.plan_summary(plan))


@cluster_app.command("rebalance")
def cluster_rebalance(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; move nothing.")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until every move is done, with progress.")]
    = True,
    timeout_s: Annotated[float, typer.Option("--timeout-s", min=1, help="How long to wait for the moves.")]
    = MOVES_TIMEOUT_S,
    bootstrap: BootstrapOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Spread replicas and preferred leaders evenly over the nodes (racks respected; off any
    decommissioned node) with the fewest replicas moved: show the plan, then carry it out, one
    partition move at a time per partition, while clients keep working. Nothing moves until asked."""
    with reported_errors(as_json), admin_client(find_cluster(bootstrap, config)) as admin:
        plan = admin.plan_rebalance()
        if dry_run or not plan.moves:
            print_plan(plan, as_json, dry_run=dry_run, done=not plan.moves)
            if dry_run and not as_json:
                typer.echo("dry run: nothing was moved")
            return
        if not as_json:
            print_plan(plan, False)
        admin.rebalance(plan)
        done = not wait or follow_moves(admin, {(m.topic, m.partition) for m in plan.moves}, timeout_s,
                                        show=not as_json)
        if as_json:
            echo_json({**fmt.plan_json(plan), "dry_run": False, "done": wait and done})
        else:
            typer.echo("rebalance done; preferred leaders take over within the leader balance interval "
                       "(or now: kraft cluster elect-leaders)" if wait else
                       "moves started (follow them: kraft topic reassignments)")


def node_hosts_partitions(bootstrap: str, node: int) -> bool:
    """Whether ``node`` still runs a partition replica, by its own status; False when it does not
    answer within NODE_STATUS_TIMEOUT_MS (stopped already: nothing left to wait for on it)."""
    try:
        with admin_client(bootstrap, NODE_STATUS_TIMEOUT_MS) as admin:
            return bool(admin.node_status(node)["groups"])
    except KraftError:
        return False


@cluster_app.command("decommission")
def cluster_decommission(
    node: Annotated[list[int], typer.Option("--node", "-n", min=1, help="The node to take out of the cluster; "
                                            "repeat for several at once (each replica then moves once).")],
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until the node holds no replica.")] = True,
    timeout_s: Annotated[float, typer.Option("--timeout-s", min=1, help="How long to wait for the moves.")]
    = MOVES_TIMEOUT_S,
    bootstrap: BootstrapOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Move every replica off a node so it can be stopped: the node is marked decommissioned (no new
    replica goes to it, also after a restart), its replicas move to the least loaded nodes that keep
    each partition's racks spread, with progress; then the metadata leader takes it out of the
    metadata group (a voter once replaced), which this waits for too. Refused (NOT_ENOUGH_NODES, nothing changed) when
    the remaining nodes could not hold some topic's replication factor."""
    nodes = sorted(set(node))
    with reported_errors(as_json):
        address = find_cluster(bootstrap, config)
    with reported_errors(as_json), admin_client(address) as admin:
        plan = admin.decommission_nodes(nodes)
        if not as_json:
            print_plan(plan, False)

        def hosting() -> list[int]:
            return [n for n in nodes if admin.replicas_on(n)]

        empty = not hosting()
        if wait and not empty:
            follow_moves(admin, {(m.topic, m.partition) for m in plan.moves}, timeout_s, show=not as_json)
            deadline = time.monotonic() + timeout_s
            # Moves started elsewhere meanwhile (a rebalance) end too; then the nodes drop their replicas.
            while hosting() or any(node_hosts_partitions(address, n) for n in nodes):
                if time.monotonic() > deadline:
                    raise RequestTimedOut(f"node(s) {', '.join(map(str, hosting()))} still hold replicas after "
                                          f"{timeout_s:g} s")
                time.sleep(DECOMMISSION_POLL_S)  # sleep-ok: poll interval of a deadline-bounded wait
            empty = True

        def in_metadata_group() -> list[int]:
            described = admin.describe_cluster()
            members = set(described.metadata_voters) | set(described.metadata_learners)
            return [n for n in nodes if n in members]

        left = not in_metadata_group()
        if wait and empty and not left:
            # The metadata leader takes an empty decommissioned node out of the metadata group (a voter
            # after its replacement): only then is stopping it no loss to the group's quorum.
            deadline = time.monotonic() + timeout_s
            while in_metadata_group():
                if time.monotonic() > deadline:
                    raise RequestTimedOut(f"node(s) {', '.join(map(str, in_metadata_group()))} still in the "
                                          f"metadata group after {timeout_s:g} s")
                time.sleep(DECOMMISSION_POLL_S)  # sleep-ok: poll interval of a deadline-bounded wait
            left = True
        named = f"node {nodes[0]} is" if len(nodes) == 1 else f"nodes {', '.join(map(str, nodes))} are"
        if as_json:
            echo_json({**fmt.plan_json(plan), "nodes": nodes, "decommissioned": True, "empty": empty,
                       "left_metadata_group": left})
        elif empty:
            typer.echo(f"{named} decommissioned, hold{'s' if len(nodes) == 1 else ''} no replica"
                       f"{' and left the metadata group' if left else ''}: "
                       f"{'it' if len(nodes) == 1 else 'they'} can be stopped")
        else:
            typer.echo(f"{named} decommissioned; replicas are moving off (follow them: kraft topic "
                       "reassignments), then it can be stopped")


# ---------------------------------------------------------------------------------------------------
# kraft topic


TopicConfigOpt = Annotated[
    list[str] | None,
    typer.Option("--config", "-c", help="k=v: a topic config (Kafka's names, e.g. retention.ms=3600000); repeat for "
                 "more. Without '=': the cluster.ini to find the cluster by, as elsewhere."),
]


def split_config_args(args: list[str] | None) -> tuple[Path | None, dict[str, str]]:
    """``--config`` on ``topic create`` / ``topic alter`` is both kraft's (the cluster.ini) and Kafka's
    (``kafka-topics --config k=v``): an argument with '=' is a topic config, one without the file."""
    files = [a for a in args or [] if "=" not in a]
    if len(files) > 1:
        raise typer.BadParameter(f"one cluster.ini, not {len(files)}: {', '.join(files)}", param_hint="--config")
    try:
        configs = fmt.parse_topic_configs([a for a in args or [] if "=" in a])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--config") from None
    return (Path(files[0]) if files else None), configs


@topic_app.command("create")
def topic_create(
    name: Annotated[str, typer.Argument(help="Topic name.")],
    partitions: Annotated[
        int | None, typer.Option("--partitions", "-p", min=1, help="Default: the cluster's partitions.")
    ] = None,
    replication_factor: Annotated[
        int | None,
        typer.Option("--replication-factor", "-r", min=1, help="Default: the cluster's replication_factor."),
    ] = None,
    config: TopicConfigOpt = None,
    bootstrap: BootstrapOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a topic, with topic configs (--config k=v ...) or the cluster's defaults."""
    path, topic_configs = split_config_args(config)
    with reported_errors(as_json), admin_client(find_cluster(bootstrap, path)) as admin:
        admin.create_topic(name, partitions=partitions, replication_factor=replication_factor,
                           config=topic_configs or None)
        if as_json:
            echo_json({"created": name, "partitions": partitions, "replication_factor": replication_factor,
                       "configs": topic_configs})
        else:
            typer.echo(f"created topic {name}")


@topic_app.command("alter")
def topic_alter(
    name: Annotated[str, typer.Argument(help="Topic name.")],
    config: TopicConfigOpt = None,
    delete_config: Annotated[
        list[str] | None,
        typer.Option("--delete-config", "-d", help="A topic config to remove (back to the cluster's default); "
                     "repeat for more."),
    ] = None,
    bootstrap: BootstrapOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set and remove topic configs in one step: all of them, or (one is refused) none."""
    path, topic_configs = split_config_args(config)
    if not topic_configs and not delete_config:
        raise typer.BadParameter("nothing to change: give --config k=v or --delete-config k", param_hint="--config")
    with reported_errors(as_json), admin_client(find_cluster(bootstrap, path)) as admin:
        admin.alter_configs(name, set=topic_configs, delete=delete_config or [])
        if as_json:
            echo_json({"altered": name, "set": topic_configs, "deleted": delete_config or []})
        else:
            typer.echo(f"altered topic {name}")


@topic_app.command("add-partitions")
def topic_add_partitions(
    name: Annotated[str, typer.Argument(help="Topic name.")],
    to: Annotated[int, typer.Option("--to", min=1, help="The new partition count (more than the topic has now).")],
    validate_only: Annotated[
        bool, typer.Option("--validate-only", help="Check the change and print it, without making it.")
    ] = False,
    bootstrap: BootstrapOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Grow a topic to --to partitions (a topic's partitions only grow), placed over the nodes as if
    the topic had been created with that many. Keyed records map to other partitions from then on."""
    with reported_errors(as_json), admin_client(find_cluster(bootstrap, config)) as admin:
        admin.create_partitions(name, to, validate_only=validate_only)
        if as_json:
            echo_json({"topic": name, "partitions": to, "validate_only": validate_only})
        elif validate_only:
            typer.echo(f"topic {name} can grow to {to} partitions (--validate-only: nothing changed)")
        else:
            typer.echo(f"topic {name} now has {to} partitions")
            typer.echo(f"note: a keyed record now goes to partition murmur2(key) % {to}: a key written before may "
                       "now map to another partition than its earlier records", err=True)


@topic_app.command("list")
def topic_list(bootstrap: BootstrapOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List topic names, one per line."""
    with reported_errors(as_json), admin_client(find_cluster(bootstrap, config)) as admin:
        names = sorted(admin.list_topics())
        if as_json:
            echo_json({"topics": names})
        elif names:
            typer.echo("\n".join(names))


@topic_app.command("describe")
def topic_describe(
    name: Annotated[str, typer.Argument(help="Topic name.")],
    bootstrap: BootstrapOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a topic's partitions (leader, replicas, log start, high watermark, size) and configs (value, source)."""
    with reported_errors(as_json), admin_client(find_cluster(bootstrap, config)) as admin:
        description = admin.describe_topic(name)
        configs = admin.describe_configs(name)
        if as_json:
            echo_json({**topic_json(description), "configs": fmt.configs_json(configs)})
        else:
            rows = [fmt.partition_row(p) for p in description.partitions]
            typer.echo(fmt.render_table(fmt.PARTITION_HEADERS, rows))
            typer.echo("")
            typer.echo(fmt.render_table(fmt.CONFIG_HEADERS, fmt.config_rows(configs)))


@topic_app.command("delete")
def topic_delete(
    name: Annotated[str, typer.Argument(help="Topic name.")],
    bootstrap: BootstrapOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete a topic and all its records."""
    with reported_errors(as_json), admin_client(find_cluster(bootstrap, config)) as admin:
        admin.delete_topic(name)
        if as_json:
            echo_json({"deleted": name})
        else:
            typer.echo(f"deleted topic {name}")


@topic_app.command("delete-records")
def topic_delete_records(
    name: Annotated[str, typer.Argument(help="Topic name.")],
    partition: Annotated[int, typer.Option("--partition", "-p", min=0, help="Partition to delete from.")],
    before: Annotated[
        int, typer.Option("--before", min=-1, help="Delete the records below this offset (-1: the high watermark).")
    ],
    bootstrap: BootstrapOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete a partition's records below an offset, on every replica; print its new log start (low
    watermark). Whole batches go; readers skip the records below the start in the batch holding it."""
    with reported_errors(as_json), admin_client(find_cluster(bootstrap, config)) as admin:
        low_watermark = admin.delete_records(name, {partition: before})[partition]
        if as_json:
            echo_json({"topic": name, "partition": partition, "low_watermark": low_watermark})
        else:
            typer.echo(f"{name} partition {partition} low watermark {low_watermark}")


REASSIGN_POLL_S = 0.5


def parse_node_list(text: str) -> list[int]:
    try:
        nodes = [int(n) for n in text.replace(" ", "").split(",") if n]
    except ValueError:
        raise typer.BadParameter(f"node ids separated by commas, e.g. 2,3,4 (got {text!r})",
                                 param_hint="--replicas") from None
    if not nodes:
        raise typer.BadParameter("at least one node id", param_hint="--replicas")
    return nodes


@topic_app.command("reassign")
def topic_reassign(
    name: Annotated[str, typer.Argument(help="Topic name.")],
    partition: Annotated[int, typer.Option("--partition", "-p", min=0, help="Partition to move.")],
    replicas: Annotated[
        str | None, typer.Option("--replicas", "-r", help="The new replicas, e.g. 2,3,4 (the first is the preferred "
                                 "leader).")
    ] = None,
    cancel: Annotated[bool, typer.Option("--cancel", help="Cancel the partition's move (back to its start).")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until the move is done, with its steps.")] = True,
    timeout_s: Annotated[float, typer.Option("--timeout-s", min=1, help="How long to wait.")] = 600,
    bootstrap: BootstrapOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Move a partition to other nodes while clients keep working: each new replica joins as a
    learner, catches up and becomes a voter, then the replicas it replaces leave (the leader last)."""
    if (replicas is None) == (not cancel):
        raise typer.BadParameter("give --replicas or --cancel", param_hint="--replicas")
    target = None if cancel else parse_node_list(replicas or "")
    with reported_errors(as_json), admin_client(find_cluster(bootstrap, config)) as admin:
        admin.reassign_partitions({(name, partition): target})
        done = not wait or follow_moves(admin, {(name, partition)}, timeout_s, show=not as_json)
        final = {p.partition: p for p in admin.describe_topic(name).partitions}[partition]
        if as_json:
            echo_json({"topic": name, "partition": partition, "done": done, "replicas": list(final.replicas),
                       "target": target})
        elif done:
            typer.echo(f"{name} partition {partition} replicas {','.join(map(str, final.replicas))}")
        else:
            typer.echo(f"{name} partition {partition} is moving to {','.join(map(str, target or final.replicas))}")


def follow_moves(admin: Admin, keys: set[tuple[str, int]], timeout_s: float, *, show: bool) -> bool:
    """Wait until none of the partitions ``keys`` is being moved; with ``show``, a progress line on
    stderr whenever a partition's replicas change state (joining, catching up, in sync ...) and a
    count of the moves done. True once done; RequestTimedOut after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    shown: dict[tuple[str, int], str] = {}
    done_shown = -1
    while True:
        moving = {k: r for k, r in admin.list_partition_reassignments().items() if k in keys}
        if show and len(keys) > 1 and len(keys) - len(moving) != done_shown:
            done_shown = len(keys) - len(moving)
            progress(f"moves done: {done_shown}/{len(keys)}")
        if not moving:
            return True
        if show:
            states: dict[tuple[str, int], dict[int, str]] = {}
            for topic in sorted({t for t, _ in moving}):
                with contextlib.suppress(UnknownTopicOrPartition):  # deleted meanwhile: its moves end too
                    states.update({(topic, p.partition): p.replica_states
                                   for p in admin.describe_topic(topic).partitions})
            for (topic, partition), r in sorted(moving.items()):
                here = states.get((topic, partition), {})
                # A node without a state is one the group has not added yet, or has removed already.
                line = ", ".join(f"{n}: {here.get(n, 'joining' if n in r.adding else 'left')}"
                                 for n in sorted(set(r.replicas) | set(r.target)))
                if shown.get((topic, partition)) != line:
                    shown[(topic, partition)] = line
                    progress(f"moving {topic}/{partition} {r.replicas} -> {r.target}: {line}")
        if time.monotonic() > deadline:
            names = ", ".join(f"{t}/{p}" for t, p in sorted(moving)[:5])
            raise RequestTimedOut(f"{len(moving)} partition(s) still moving after {timeout_s:g} s ({names}"
                                  f"{' ...' if len(moving) > 5 else ''}; see kraft topic reassignments)")
        time.sleep(REASSIGN_POLL_S)  # sleep-ok: poll interval of a deadline-bounded wait


@topic_app.command("reassignments")
def topic_reassignments(bootstrap: BootstrapOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List the partitions being moved (Kafka's ListPartitionReassignments)."""
    with reported_errors(as_json), admin_client(find_cluster(bootstrap, config)) as admin:
        moves = sorted(admin.list_partition_reassignments().values(), key=lambda r: (r.topic, r.partition))
        if as_json:
            echo_json({"reassignments": [{"topic": r.topic, "partition": r.partition, "replicas": r.replicas,
                                          "target": r.target, "adding": r.adding, "removing": r.removing}
                                         for r in moves]})
        elif moves:
            typer.echo(fmt.render_table(["topic", "partition", "replicas", "target", "adding", "removing"],
                                        [[r.topic, r.partition, r.replicas, r.target, r.adding, r.removing]
                                         for r in moves]))
        else:
            typer.echo("no partition is being moved")


# ---------------------------------------------------------------------------------------------------
# kraft group


@group_app.command("list")
def group_list(bootstrap: BootstrapOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List consumer group ids (groups with members or committed offsets), one per line."""
    with reported_errors(as_json), admin_client(find_cluster(bootstrap, config)) as admin:
        groups = admin.list_groups()
        if as_json:
            echo_json({"groups": groups})
        elif groups:
            typer.echo("\n".join(groups))


@group_app.command("describe")
def group_describe(
    group: Annotated[str, typer.Argument(help="Group id.")],
    bootstrap: BootstrapOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a group's state and, per partition, its member, committed offset, end offset and lag."""
    with reported_errors(as_json), admin_client(find_cluster(bootstrap, config)) as admin:
        description = admin.describe_group(group)
        if as_json:
            echo_json(fmt.group_json(description))
            return
        typer.echo(fmt.group_summary(description))
        rows = fmt.group_offset_rows(description)
        if rows:
            typer.echo("")
            typer.echo(fmt.render_table(fmt.GROUP_OFFSET_HEADERS, rows))


@group_app.command("reset-offsets")
def group_reset_offsets(
    group: Annotated[str, typer.Argument(help="Group id.")],
    topic: Annotated[str, typer.Argument(help="Topic whose committed offsets to set.")],
    to: Annotated[
        str | None, typer.Option("--to", help="earliest, latest, or an offset (kept within each partition's range).")
    ] = None,
    to_timestamp: Annotated[
        int | None,
        typer.Option("--to-timestamp", min=0, help="First offset at or after this time (ms since the epoch)."),
    ] = None,
    partition: Annotated[
        list[int] | None, typer.Option("--partition", "-p", min=0, help="Only this partition; repeat for more.")
    ] = None,
    bootstrap: BootstrapOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a group's committed offsets for a topic. The group must have no running members."""
    if (to is None) == (to_timestamp is None):
        raise typer.BadParameter("give one of --to and --to-timestamp", param_hint="--to")
    target: str | int | None = to
    if to is not None and to not in ("earliest", "latest"):
        if not to.isdigit():
            raise typer.BadParameter(f"{to!r} is not earliest, latest or an offset", param_hint="--to")
        target = int(to)
    with reported_errors(as_json), admin_client(find_cluster(bootstrap, config)) as admin:
        offsets = admin.reset_offsets(group, topic, to=target, to_timestamp_ms=to_timestamp, partitions=partition)
        if as_json:
            echo_json({"group_id": group, "topic": topic,
                       "offsets": [{"partition": tp.partition, "offset": off} for tp, off in offsets.items()]})
        else:
            typer.echo(fmt.render_table(["partition", "new offset"],
                                        [[tp.partition, off] for tp, off in offsets.items()]))


# ---------------------------------------------------------------------------------------------------
# kraft produce


@app.command()
def produce(
    topic: Annotated[str, typer.Argument(help="Topic to write to.")],
    value: Annotated[
        str | None, typer.Argument(help="The record's value; without it, one record per stdin line.")
    ] = None,
    key: Annotated[str | None, typer.Option("--key", "-k", help="Record key (picks the partition).")] = None,
    partition: Annotated[int | None, typer.Option("--partition", "-p", min=0, help="Write to this partition.")] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", "-H", help="name=value; repeat for more headers.")
    ] = None,
    acks: Annotated[
        Acks, typer.Option("--acks", help="all: wait for a majority of replicas; 0: do not wait.")
    ] = Acks.ALL,
    bootstrap: BootstrapOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a record, or one record per line of stdin (with a summary on stderr)."""
    try:
        headers = [fmt.parse_header(h) for h in header or []]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--header") from None
    from kraft import Producer

    with reported_errors(as_json):
        producer = Producer(find_cluster(bootstrap, config), acks=producer_acks(acks))
        try:
            send = sender(producer, topic, key, headers, partition)
            if value is not None:
                produce_one(producer, send(value.encode()), as_json)
            else:
                produce_stdin(producer, send, topic, as_json)
        finally:
            producer.close()


SendOne = Callable[[bytes], "Future[Any]"]


def sender(
    producer: Any, topic: str, key: str | None, headers: list[tuple[str, bytes]], partition: int | None
) -> SendOne:
    """send(value) with the command's fixed options."""
    key_bytes = key.encode() if key is not None else None

    def send(value: bytes) -> Future[Any]:
        future: Future[Any] = producer.send(
            topic, value=value, key=key_bytes, headers=headers or None, partition=partition
        )
        return future

    return send


def producer_acks(acks: Acks) -> str | int:
    return "all" if acks is Acks.ALL else int(acks.value)


def produce_one(producer: Any, future: Future[Any], as_json: bool) -> None:
    producer.flush()
    md = future.result()
    if as_json:
        echo_json({"topic": md.topic, "partition": md.partition, "offset": md.offset, "timestamp_ms": md.timestamp_ms})
    else:
        typer.echo(f"{md.topic} partition {md.partition} offset {md.offset}")


def produce_stdin(producer: Any, send: SendOne, topic: str, as_json: bool) -> None:
    """One record per stdin line; waits on the oldest send when too many are in flight, so a large
    file streams through in bounded memory."""
    tally = ProduceTally(topic, show_progress=sys.stderr.isatty())
    pending: deque[Future[Any]] = deque()
    try:
        for line in typer.get_binary_stream("stdin"):
            pending.append(send(line.removesuffix(b"\n").removesuffix(b"\r")))
            while len(pending) > PRODUCE_PENDING_MAX:
                tally.add(pending.popleft().result())
        producer.flush()
        while pending:
            tally.add(pending.popleft().result())
    finally:
        tally.finish()
    if as_json:
        echo_json(tally.as_json())


class ProduceTally:
    """Counts acknowledged records per partition and reports progress on stderr."""

    def __init__(self, topic: str, show_progress: bool) -> None:
        self.topic = topic
        self.count = 0
        self.offsets: dict[int, list[int]] = {}  # partition → [first, last] acknowledged offset
        self.started = time.monotonic()
        self._show_progress = show_progress
        self._last_shown = self.started

    def add(self, md: Any) -> None:
        self.count += 1
        if md.offset >= 0:  # acks=0 gets no offsets back
            first_last = self.offsets.setdefault(md.partition, [md.offset, md.offset])
            first_last[0], first_last[1] = min(first_last[0], md.offset), max(first_last[1], md.offset)
        now = time.monotonic()
        if self._show_progress and now - self._last_shown >= PROGRESS_INTERVAL_S:
            self._last_shown = now
            typer.echo(f"\rproduced {self.count:,} records ...", err=True, nl=False)

    def finish(self) -> None:
        prefix = "\r" if self._show_progress else ""
        elapsed = time.monotonic() - self.started
        progress(f"{prefix}produced {fmt.summary_rate(self.count, elapsed)} to {self.topic}")

    def as_json(self) -> dict[str, object]:
        offsets = {str(p): fl for p, fl in sorted(self.offsets.items())}
        return {"topic": self.topic, "records": self.count, "offsets": offsets}


# ---------------------------------------------------------------------------------------------------
# kraft consume


@app.command()
def consume(
    topic: Annotated[str, typer.Argument(help="Topic to read.")],
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Start at the oldest record instead of new ones only.")
    ] = False,
    partition: Annotated[int | None, typer.Option("--partition", "-p", min=0, help="Read only this partition.")] = None,
    offset: Annotated[int | None, typer.Option("--offset", min=0, help="Start here (needs --partition).")] = None,
    max_messages: Annotated[
        int | None, typer.Option("--max-messages", "-m", min=1, help="Stop after N records.")
    ] = None,
    timeout_ms: Annotated[
        int | None, typer.Option("--timeout-ms", min=0, help="Stop when no record arrives for this long.")
    ] = None,
    group: Annotated[
        str | None,
        typer.Option("--group", "-g", help="Read as a member of this consumer group: share the partitions with "
                     "its other members, start at its committed offsets, commit as records are printed."),
    ] = None,
    bootstrap: BootstrapOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print records as they arrive (Ctrl-C stops): a table, or one JSON object per line."""
    if offset is not None and partition is None:
        raise typer.BadParameter("--offset needs --partition", param_hint="--offset")
    if offset is not None and from_beginning:
        raise typer.BadParameter("use --offset or --from-beginning, not both", param_hint="--offset")
    if group is not None and partition is not None:
        raise typer.BadParameter("a group assigns the partitions: --partition does not go with --group",
                                 param_hint="--group")
    from kraft import Consumer, TopicPartition

    with reported_errors(as_json):
        servers = find_cluster(bootstrap, config)
        with admin_client(servers) as admin:
            partitions = [p.partition for p in admin.describe_topic(topic).partitions]
        if group is not None:
            count = consume_group(servers, topic, group, from_beginning, max_messages, timeout_ms, as_json)
            progress(f"consumed {count:,} record{'s' if count != 1 else ''}")
            return
        if partition is not None and partition not in partitions:
            raise UnknownTopicOrPartition(f"topic {topic} has no partition {partition} (it has {len(partitions)})")
        tps = [TopicPartition(topic, p) for p in ([partition] if partition is not None else partitions)]
        consumer = Consumer(servers)
        try:
            consumer.assign(tps)
            if offset is not None:
                consumer.seek(tps[0], offset)
            elif from_beginning:
                consumer.seek_to_beginning()
            else:
                consumer.seek_to_end()
            count = consume_loop(consumer, max_messages, timeout_ms, as_json)
        finally:
            consumer.close()
        progress(f"consumed {count:,} record{'s' if count != 1 else ''}")


def consume_group(
    servers: str, topic: str, group: str, from_beginning: bool, max_messages: int | None, timeout_ms: int | None,
    as_json: bool,
) -> int:
    """``kraft consume --group``: a group member that commits exactly what it printed."""
    from kraft import Consumer

    # Without a committed offset, start where a plain `kraft consume` would (the end, or the beginning).
    consumer = Consumer(servers, group_id=group, client_id="kraft-cli",
                        auto_offset_reset="earliest" if from_beginning else "latest", enable_auto_commit=False)
    committer = PrintedCommitter(consumer)
    try:
        consumer.subscribe([topic], on_revoke=committer.revoked)
        try:
            return consume_loop(consumer, max_messages, timeout_ms, as_json, committer)
        finally:
            committer.commit()
    finally:
        consumer.close()


class PrintedCommitter:
    """Commits, per partition, the offset of the next record to *print*: every
    GROUP_COMMIT_INTERVAL_S, when the group takes partitions away, and at the end. (Auto-commit
    would also commit records polled but not printed when --max-messages or Ctrl-C stops the command
    in the middle of a batch.) Partitions nothing was polled from commit their start position, so a
    later run continues where this one started (as auto-commit would)."""

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer
        self.next: dict[Any, int] = {}  # partition -> offset of the next record to print
        self.sent: dict[Any, int] = {}  # partition -> last offset committed
        self.last_commit = time.monotonic()

    def polled(self, records: list[Any]) -> None:
        from kraft import TopicPartition

        for r in records:
            self.next.setdefault(TopicPartition(r.topic, r.partition), r.offset)

    def record(self, r: Any) -> None:
        from kraft import TopicPartition

        self.next[TopicPartition(r.topic, r.partition)] = r.offset + 1

    def tick(self) -> None:
        if time.monotonic() - self.last_commit < GROUP_COMMIT_INTERVAL_S:
            return
        self.last_commit = time.monotonic()
        offsets = {tp: off for tp, off in self.next.items() if self.sent.get(tp) != off}
        if offsets:
            self.sent.update(offsets)
            self.consumer.commit_async(offsets, callback=self._report)

    def revoked(self, partitions: list[Any]) -> None:
        self.commit(partitions)
        for tp in partitions:
            self.next.pop(tp, None)
            self.sent.pop(tp, None)

    def commit(self, partitions: list[Any] | None = None) -> None:
        """Commit synchronously for ``partitions`` (default: every assigned partition)."""
        try:
            wanted = sorted(self.consumer.assignment()) if partitions is None else partitions
            offsets = {tp: self.next[tp] if tp in self.next else self.consumer.position(tp) for tp in wanted}
            offsets = {tp: off for tp, off in offsets.items() if self.sent.get(tp) != off}
            if offsets:
                self.consumer.commit(offsets)
                self.sent.update(offsets)
        except KraftError as exc:
            progress(f"warning: commit failed: {exc}")

    @staticmethod
    def _report(offsets: dict[Any, int], error: KraftError | None) -> None:
        if error is not None:
            progress(f"warning: commit of {len(offsets)} partition(s) failed: {error}")


def consume_loop(
    consumer: Any, max_messages: int | None, timeout_ms: int | None, as_json: bool,
    committer: PrintedCommitter | None = None,
) -> int:
    """Poll and print until max_messages, an idle timeout or Ctrl-C; returns how many were printed."""
    table = fmt.StreamTable(fmt.RECORD_COLUMNS)
    if not as_json:
        typer.echo(table.header())
    count = 0
    idle_since = time.monotonic()
    with contextlib.suppress(KeyboardInterrupt):
        while max_messages is None or count < max_messages:
            wait_ms = CONSUME_POLL_MS
            if timeout_ms is not None:
                idle_ms = (time.monotonic() - idle_since) * 1000
                if idle_ms >= timeout_ms:
                    break
                wait_ms = max(1, min(wait_ms, int(timeout_ms - idle_ms)))
            records = consumer.poll(timeout_ms=wait_ms)
            if records:
                idle_since = time.monotonic()
            if committer is not None:
                committer.polled(records)
            for record in records[: None if max_messages is None else max_messages - count]:
                typer.echo(fmt.dumps(record_json(record)) if as_json else table.row(record_row(record)))
                count += 1
                if committer is not None:
                    committer.record(record)
            if committer is not None:
                committer.tick()
    return count


def record_row(r: Any) -> list[object]:
    return [r.partition, r.offset, fmt.format_timestamp_ms(r.timestamp_ms), r.key, r.value]


def record_json(r: Any) -> dict[str, object]:
    return fmt.record_json(
        topic=r.topic,
        partition=r.partition,
        offset=r.offset,
        key=r.key,
        value=r.value,
        timestamp_ms=r.timestamp_ms,
        headers=r.headers,
    )


if __name__ == "__main__":
    app()


# ---------------------------------------------------------------------------------------------------
# seeing the cluster: kraft top, kraft console


def http_nodes_of(bootstrap: str | None, config: Path | None) -> dict[int, str]:
    """The config's HTTP addresses of the nodes (CPU, memory, rates come from their /metrics), none
    when the cluster was named by --bootstrap: then, as on top of a config, each refresh takes the
    HTTP ports the nodes announced in the cluster's node registry."""
    if bootstrap is not None:
        return {}
    return load_config(config).http_addresses()


@app.command()
def top(bootstrap: BootstrapOpt = None, config: ConfigOpt = None) -> None:
    """A full-screen live view refreshed every second: nodes (up, CPU, memory, requests/s), topics
    (records/s in and out, size), partitions led per node, under-replicated partitions, groups and
    their lag. Keys: 1-4 (or n t p g) switch views, s sorts by the next column, r reverses, q quits.
    CPU, memory and rates come from the nodes' http_port (as they announced it, else the config's)."""
    from kraft.top.app import run

    with reported_errors(as_json=False):
        servers = find_cluster(bootstrap, config)
        http_nodes = http_nodes_of(bootstrap, config)
    run(servers, http_nodes)


@app.command()
def console(
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="Port to serve on (0: any).")] = 8080,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    read_only: Annotated[bool | None, typer.Option("--read-only/--read-write", help="Refuse every write action "
                                                   "(default: the config's console_read_only)")] = None,
    bootstrap: BootstrapOpt = None,
    config: ConfigOpt = None,
) -> None:
    """The web console on a port of its own (every node with an http_port also serves it at /)."""
    from kraft.console.standalone import serve

    with reported_errors(as_json=False):
        servers = find_cluster(bootstrap, config)
        http_nodes = http_nodes_of(bootstrap, config)
        if read_only is None:
            read_only = bootstrap is None and load_config(config).console_read_only
        try:
            serve(servers, http_nodes, host, port, read_only=read_only,
                  ready=lambda p: typer.echo(f"kraft console on http://{host}:{p}/ (read-only: "
                                             f"{'yes' if read_only else 'no'}); Ctrl-C stops it"))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


# ---------------------------------------------------------------------------------------------------
# kraft acl

AclTopicOpt = Annotated[str | None, typer.Option("--topic", "-t", help="A topic (or '*': every topic).")]
AclGroupOpt = Annotated[str | None, typer.Option("--group", "-g", help="A consumer group (or '*').")]
AclClusterOpt = Annotated[bool, typer.Option("--cluster", help="The cluster itself (kafka-cluster).")]
AclPrefixedOpt = Annotated[bool, typer.Option("--prefixed", help="The name is a prefix (PREFIXED), not a name.")]
AclOperationOpt = Annotated[list[str] | None, typer.Option(
    "--operation", "-o", help="all, read, write, create, delete, alter, describe, describe_configs, alter_configs, "
                              "idempotent_write, ...; repeat for more.")]


def acl_resource(topic: str | None, group: str | None, cluster: bool) -> tuple[int, str] | None:
    """The one resource an ``acl`` command names (None: none named)."""
    from kraft.state.acls import CLUSTER_NAME, ResourceType

    named = [(ResourceType.TOPIC, topic), (ResourceType.GROUP, group), (ResourceType.CLUSTER, CLUSTER_NAME if cluster
                                                                        else None)]
    given = [(int(rt), name) for rt, name in named if name is not None]
    if len(given) > 1:
        raise typer.BadParameter("name one resource: --topic, --group or --cluster")
    return given[0] if given else None


def acl_operations(names: list[str] | None) -> list[int]:
    from kraft.state.acls import Operation

    out = []
    for name in names or []:
        try:
            out.append(int(Operation[name.upper().replace("-", "_")]))
        except KeyError:
            raise typer.BadParameter(f"unknown operation {name!r}", param_hint="--operation") from None
    return out


@acl_app.command("list")
def acl_list(
    topic: AclTopicOpt = None, group: AclGroupOpt = None, cluster: AclClusterOpt = False,
    principal: Annotated[str | None, typer.Option("--principal", help="Only this principal's (User:name).")] = None,
    bootstrap: BootstrapOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False,
) -> None:
    """The cluster's ACL bindings; with a resource, those that apply to it (its name, '*', prefixes)."""
    from kraft.state.acls import AclFilter, PatternType, ResourceType

    resource = acl_resource(topic, group, cluster)
    if resource is None:
        f = AclFilter(ResourceType.ANY, None, PatternType.ANY, principal)
    else:
        f = AclFilter(resource[0], resource[1], PatternType.MATCH, principal)
    with reported_errors(as_json), admin_client(find_cluster(bootstrap, config)) as admin:
        print_rows([fmt.acl_row(b) for b in admin.describe_acls(f)], as_json, "acls")


@acl_app.command("add")
def acl_add(
    operation: AclOperationOpt = None,
    deny: Annotated[bool, typer.Option("--deny/--allow", help="DENY (wins over any ALLOW) or ALLOW.")] = False,
    principal: Annotated[str, typer.Option("--principal", help="User:name, or User:* for everyone.")] = "User:*",
    host: Annotated[str, typer.Option("--host", help="A client IP address, or '*'.")] = "*",
    topic: AclTopicOpt = None, group: AclGroupOpt = None, cluster: AclClusterOpt = False,
    prefixed: AclPrefixedOpt = False,
    bootstrap: BootstrapOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False,
) -> None:
    """Add bindings: PRINCIPAL at HOST is allowed (or denied) each --operation on one resource. kraft
    has no authentication: every client is User:ANONYMOUS, so User:* (or host) bindings restrict it."""
    from kraft.state.acls import AclBinding, PatternType, Permission

    resource = acl_resource(topic, group, cluster)
    operations = acl_operations(operation)
    if resource is None or not operations:
        raise typer.BadParameter("name a resource (--topic, --group or --cluster) and at least one --operation")
    pattern = PatternType.PREFIXED if prefixed else PatternType.LITERAL
    bindings = [AclBinding(resource[0], resource[1], pattern, principal, host, op,
                           Permission.DENY if deny else Permission.ALLOW) for op in operations]
    with reported_errors(as_json), admin_client(find_cluster(bootstrap, config)) as admin:
        admin.create_acls(bindings)
        print_rows([fmt.acl_row(b) for b in bindings], as_json, "added")


@acl_app.command("remove")
def acl_remove(
    operation: AclOperationOpt = None,
    permission: Annotated[str | None, typer.Option("--permission", help="Only allow or deny bindings.")] = None,
    principal: Annotated[str | None, typer.Option("--principal", help="Only this principal's.")] = None,
    host: Annotated[str | None, typer.Option("--host", help="Only bindings for this host.")] = None,
    topic: AclTopicOpt = None, group: AclGroupOpt = None, cluster: AclClusterOpt = False,
    prefixed: AclPrefixedOpt = False,
    bootstrap: BootstrapOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False,
) -> None:
    """Remove the bindings of one resource (its LITERAL bindings, or with --prefixed its PREFIXED
    ones) that match the other options; prints what was removed."""
    from kraft.state.acls import AclFilter, Operation, PatternType, Permission

    resource = acl_resource(topic, group, cluster)
    if resource is None:
        raise typer.BadParameter("name a resource: --topic, --group or --cluster")
    perm = Permission.ANY
    if permission is not None:
        if permission.lower() not in ("allow", "deny"):
            raise typer.BadParameter("allow or deny", param_hint="--permission")
        perm = Permission[permission.upper()]
    pattern = PatternType.PREFIXED if prefixed else PatternType.LITERAL
    filters = [AclFilter(resource[0], resource[1], pattern, principal, host, op, perm)
               for op in acl_operations(operation) or [Operation.ANY]]
    with reported_errors(as_json), admin_client(find_cluster(bootstrap, config)) as admin:
        print_rows([fmt.acl_row(b) for b in admin.delete_acls(*filters)], as_json, "removed")

