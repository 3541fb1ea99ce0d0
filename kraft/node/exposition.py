"""Prometheus' text exposition format (version 0.0.4) written directly for large labelled families.

Owns: ``TextFamily``, a gauge or counter family of many labelled samples kept as rows (label values,
value) whose exposition text it writes itself, and ``generate``, which writes a registry's families
in order: a ``TextFamily`` by itself, every other family through prometheus_client's
``generate_latest``. The text is byte for byte what ``generate_latest`` writes for the same family
(tests compare the two and parse it back): ``# HELP`` (backslash and newline escaped), ``# TYPE``,
then one line per sample with its labels sorted by name, label values escaped as the format says
(backslash, double quote, newline) and the value as a Go float (``1.0``, ``-1.0``, ``1.2e+07``).
Why: with per-partition series a scrape of 3,000 partitions is ~16,000 samples; prometheus_client
builds a ``Sample`` with a label dict for each, then sorts and escapes every label of every sample
one at a time. Here a family formats its rows through one precompiled line template.
Must not: take metric or label names from outside kraft's code (they are checked, never escaped),
or know what any metric means (``kraft.node.metrics``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_TYPES = ("gauge", "counter")
_float_to_go: Callable[[float], str] = floatToGoString  # untyped in prometheus_client


def escape_label_value(value: str) -> str:
    """A label value as the text format writes it: backslash, double quote and newline escaped."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return value


def escape_help(text: str) -> str:
    """A ``# HELP`` text: backslash and newline escaped (double quotes stay)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def go_float(value: float) -> str:
    """A sample value as Go (and so Prometheus and prometheus_client) writes a float64."""
    if type(value) is int and -(10 ** 15) < value < 1_000_000:
        return f"{value}.0"  # what floatToGoString gives for these, without the float round trip
    return _float_to_go(value)


class TextFamily(Metric):
    """A gauge or counter family whose samples are rows of label values and a value.

    ``samples`` is made on demand, so any consumer of a registry (``generate_latest``, the tests'
    parser) sees an ordinary family; ``generate`` writes ``text()`` instead. A counter's name is
    given without ``_total`` (as prometheus_client's ``CounterMetricFamily``)."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str], typ: str = "gauge") -> None:
        if typ not in _TYPES:
            raise ValueError(f"a TextFamily is a gauge or a counter, not {typ!r}")
        if name.endswith("_total") and typ == "counter":
            name = name[:-len("_total")]
        if not _NAME.fullmatch(name) or not all(_LABEL.fullmatch(label) for label in labels):
            raise ValueError(f"not a metric name with label names: {name} {list(labels)}")
        if len(set(labels)) != len(labels) or "le" in labels:
            raise ValueError(f"label names must differ and not be reserved: {list(labels)}")
        self.label_names = tuple(labels)
        self.rows: list[tuple[Sequence[str], float]] = []
        super().__init__(name, documentation, typ)

    @property  # prometheus_client's attribute, made from the rows here
    def samples(self) -> list[Sample]:
        name = self.sample_name
        return [Sample(name, dict(zip(self.label_names, values, strict=True)), value, None, None, None)
                for values, value in self.rows]

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        if value:  # Metric.__init__ sets [] and nothing else may: samples come from rows
            raise TypeError("a TextFamily's samples come from add_metric")

    @property
    def sample_name(self) -> str:
        return f"{self.name}_total" if self.type == "counter" else self.name

    def add_metric(self, values: Sequence[str], value: float) -> None:
        if len(values) != len(self.label_names):
            raise ValueError(f"{self.name} takes {len(self.label_names)} label values, got {list(values)}")
        self.rows.append((values, value))

    def text(self) -> str:
        """The family in the text format, exactly as ``generate_latest`` would write it."""
        name = self.sample_name
        order = sorted(range(len(self.label_names)), key=self.label_names.__getitem__)
        head = f"# HELP {name} {escape_help(self.documentation)}\n# TYPE {name} {self.type}\n"
        if not order:
            return head + "".join(f"{name} {go_float(value)}\n" for _values, value in self.rows)
        # One str.format template per family: 'name{a="{0}",b="{1}"} {2}\n', labels in sorted order.
        fields = ",".join(f'{self.label_names[i]}="{{{i}}}"' for i in order)
        template = f"{name}{{{{{fields}}}}} {{{len(order)}}}\n"
        fmt = template.format
        esc = escape_label_value
        lines = [head]
        if len(order) == 2:  # the common shapes, without a generator per row
            lines.extend(fmt(esc(a), esc(b), go_float(value)) for (a, b), value in self.rows)
        elif len(order) == 3:
            lines.extend(fmt(esc(a), esc(b), esc(c), go_float(value)) for (a, b, c), value in self.rows)
        else:
            lines.extend(fmt(*map(esc, values), go_float(value)) for values, value in self.rows)
        return "".join(lines)


class _One(Collector):
    def __init__(self, metric: Metric) -> None:
        self.metric = metric

    def collect(self) -> Iterable[Metric]:
        return (self.metric,)


def generate(registry: Collector) -> bytes:
    """``generate_latest(registry)``, with every ``TextFamily`` written by itself."""
    out = []
    for metric in registry.collect():
        if isinstance(metric, TextFamily):
            out.append(metric.text().encode())
        else:
            out.append(generate_latest(_One(metric)))
    return b"".join(out)
