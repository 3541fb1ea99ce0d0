"""A node's logger levels under Kafka's names: what a BROKER_LOGGER config resource (Kafka's
DescribeConfigs / IncrementalAlterConfigs of resource type 8, KIP-412) reads and changes.

Owns: the translation between Kafka's log4j levels (TRACE, DEBUG, INFO, WARN, ERROR, FATAL, OFF) and
Python's logging levels, the list of this process's loggers with their effective levels, and
setting or resetting one. As Kafka's, a change is this node's alone and lasts until it restarts
(never replicated, never stored).
Must not: know a wire shape or a config resource (the Kafka config handlers do).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from kraft.errors import InvalidConfig, InvalidRequest
from kraft.topic_config import AlterOp

ROOT = "root"  # Kafka's name for the root logger
TRACE = 5  # below DEBUG: Python has no TRACE
OFF = logging.CRITICAL + 10  # above every record's level
_TO_PYTHON = {"TRACE": TRACE, "DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING,
              "ERROR": logging.ERROR, "FATAL": logging.CRITICAL, "OFF": OFF}


def kafka_level(level: int) -> str:
    """Python's level as Kafka's name: the highest of Kafka's levels at or below it."""
    return max(((lv, name) for name, lv in _TO_PYTHON.items() if lv <= level), default=(TRACE, "TRACE"))[1]


def _logger(name: str) -> logging.Logger:
    return logging.getLogger() if name == ROOT else logging.getLogger(name)


def loggers() -> dict[str, str]:
    """Every logger of this process (the root first, then by name) with its effective level."""
    names = sorted(n for n, v in logging.root.manager.loggerDict.items() if isinstance(v, logging.Logger))
    return {name: kafka_level(_logger(name).getEffectiveLevel()) for name in [ROOT, *names]}


@dataclass(frozen=True, slots=True)
class LevelChange:
    logger: str
    op: AlterOp
    level: str | None


def apply(changes: Sequence[LevelChange], *, validate_only: bool = False) -> None:
    """Set (SET) or reset to the parent's level (DELETE) each logger, all checked first, as Kafka's:
    APPEND/SUBTRACT INVALID_REQUEST, an unknown logger or level INVALID_CONFIG, resetting the root
    INVALID_CONFIG."""
    known = loggers()
    for c in changes:
        if c.op not in (AlterOp.SET, AlterOp.DELETE):
            raise InvalidRequest(f"{c.op.name} is not supported for broker loggers (SET or DELETE)")
        if c.logger not in known:
            raise InvalidConfig(f"logger {c.logger!r} does not exist on this node", key=c.logger)
        if c.op is AlterOp.SET and (c.level or "").upper() not in _TO_PYTHON:
            raise InvalidConfig(f"{c.logger}: {c.level!r} is not a log level ({', '.join(_TO_PYTHON)})", key=c.logger)
        if c.op is AlterOp.DELETE and c.logger == ROOT:
            raise InvalidConfig("removing the log level of the root logger is not allowed", key=ROOT)
    if validate_only:
        return
    for c in changes:
        _logger(c.logger).setLevel(_TO_PYTHON[(c.level or "").upper()] if c.op is AlterOp.SET else logging.NOTSET)
