"""How every client command finds the cluster, and says so at once when it cannot reach it.

Owns: the one order of sources (``--bootstrap HOST:PORT,...``; else ``--config FILE``'s nodes; else
``./cluster.ini``; else the built-in single node) and ``require_reachable``: a TCP connect to every
bootstrap address at once, which fails with NETWORK_EXCEPTION naming each address and why within
``REACH_TIMEOUT_S`` when none accepts, instead of a client retrying silently until its request
timeout. Used by ``cli.py`` and the Connect and Streams commands alike.
Must not: speak the protocol (reaching a port is all it checks; the client does the rest) or
print anything.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from kraft.config import load_config
from kraft.errors import ConfigError, KraftConnectionError

REACH_TIMEOUT_S = 3.0


def resolve_bootstrap(bootstrap: str | None, config: Path | str | None) -> str:
    """``bootstrap`` if given, else the client ports of ``config``'s nodes (None: ./cluster.ini, else
    the built-in single node)."""
    if bootstrap is not None:
        if not bootstrap.strip():
            raise ConfigError("--bootstrap is empty; expected HOST:PORT[,HOST:PORT...]")
        return bootstrap
    return load_config(config).bootstrap()


def _addresses(bootstrap: str) -> list[tuple[str, int]]:
    out = []
    for item in (i.strip() for i in bootstrap.split(",")):
        host, sep, port = item.rpartition(":")
        if not item:
            continue
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"bootstrap address {item!r} is not HOST:PORT")
        out.append((host.strip("[]"), int(port)))
    if not out:
        raise ConfigError("the bootstrap list is empty; expected HOST:PORT[,HOST:PORT...]")
    return out


def require_reachable(bootstrap: str, timeout_s: float = REACH_TIMEOUT_S) -> None:
    """Return as soon as one address of ``bootstrap`` accepts a TCP connection; NETWORK_EXCEPTION
    (KraftConnectionError) naming every address and its failure when none does within ``timeout_s``."""
    addresses = _addresses(bootstrap)
    problems: dict[str, str] = {}
    reached = threading.Event()
    lock = threading.Lock()

    def probe(host: str, port: int) -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                reached.set()
                return
        except OSError as exc:
            with lock:
                problems[f"{host}:{port}"] = exc.strerror or str(exc) or type(exc).__name__

    threads = [threading.Thread(target=probe, args=a, daemon=True) for a in addresses]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout_s
    while not reached.is_set() and time.monotonic() < deadline:
        with lock:
            if len(problems) == len(addresses):
                break
        reached.wait(0.02)
    if reached.is_set():
        return
    with lock:
        why = "; ".join(f"{a}: {problems.get(a, f'no answer within {timeout_s:g} s')}"
                        for a in (f"{h}:{p}" for h, p in addresses))
    raise KraftConnectionError(f"cannot reach any node of the cluster ({why}). Is it running? "
                               "Point at it with --bootstrap HOST:PORT or --config FILE")


def find_cluster(bootstrap: str | None, config: Path | str | None, timeout_s: float = REACH_TIMEOUT_S) -> str:
    """The bootstrap list of a client command, checked reachable (see ``require_reachable``)."""
    servers = resolve_bootstrap(bootstrap, config)
    require_reachable(servers, timeout_s)
    return servers
