"""kraft's own text exposition of large families (``kraft.node.exposition``) against prometheus_client's:
the same bytes for a node's whole snapshot and for arbitrary label values and values, and text that
Prometheus' parser reads back to the same samples."""

from __future__ import annotations

import math
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from kraft.node.exposition import TextFamily, escape_label_value, generate, go_float
from kraft.node.metrics import GroupLag, NodeCollector, NodeSnapshot, PartitionSample, StoreUsage
from kraft.node.stats import NodeStats

# Label values the format must escape, and some it must not touch.
AWKWARD = ['plain', 'say "hi"', "back\\slash", "new\nline", "trailing\\", "ünïcödé ✓", "{braces}", "a=b,c", ""]


class _Only(Collector):
    def __init__(self, *metrics: Metric) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics


def _snapshot() -> NodeSnapshot:
    parts = []
    for i in range(40):
        leads = i % 3 == 0
        parts.append(PartitionSample(f"topic-{i % 4}", i, None if i % 7 == 0 else 1 + i % 3, leads,
                                     leads and i % 2 == 0, {2: i, 3: 12_345_678} if leads else {},
                                     i * 1000, 10 ** (i % 12), i * 40_960, False))
    lags = [GroupLag(group, f"topic-{i % 4}", i, i * 1_000_003) for i, group in enumerate(AWKWARD)]
    return NodeSnapshot(node_id=1, partitions=parts, metadata_leader=True, offline_partitions=0,
                        store=StoreUsage(1 << 30, 4096, 7), group_lag=lags)


def _node_registry() -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)  # no process collector: its figures change between two calls
    snapshot = _snapshot()
    reg.register(NodeCollector(lambda: snapshot, NodeStats()))
    return reg


def test_a_node_scrape_is_byte_for_byte_prometheus_clients() -> None:
    reg = _node_registry()
    ours = generate(reg)
    assert b"kraft_log_end_offset{" in ours and b'group="say \\"hi\\""' in ours  # the direct path ran
    assert ours == generate_latest(reg)


def test_a_node_scrape_parses_back() -> None:
    families = {f.name: f for f in text_string_to_metric_families(generate(_node_registry()).decode())}
    lags = {s.labels["group"]: s.value for s in families["kraft_consumer_group_lag_records"].samples}
    assert lags == {group: i * 1_000_003 for i, group in enumerate(AWKWARD)}
    ends = {(s.labels["topic"], s.labels["partition"]): s.value for s in families["kraft_log_end_offset"].samples}
    assert ends[("topic-3", "11")] == 10 ** 11 and len(ends) == 40
    leaders = [s for s in families["kraft_partition_leader"].samples if s.labels["partition"] == "7"]
    assert [(s.labels["is_leader"], s.value) for s in leaders] == [("0", -1)]


values = st.one_of(st.integers(min_value=-(10 ** 20), max_value=10 ** 20),
                   st.floats(allow_nan=False, allow_infinity=True))
label_value = st.one_of(st.sampled_from(AWKWARD), st.text(max_size=12))
rows = st.lists(st.tuples(st.tuples(label_value, label_value, label_value), values), max_size=20)


@settings(max_examples=300, deadline=None)
@given(rows=rows, typ=st.sampled_from(["gauge", "counter"]), width=st.integers(0, 3))
def test_any_family_is_written_as_prometheus_client_writes_it(
        rows: list[tuple[tuple[str, str, str], float]], typ: str, width: int) -> None:
    labels = ["zeta", "alpha", "mid"][:width]
    ours = TextFamily("kraft_x", 'help with \\ and "quotes"\nand a line', labels, typ)
    cls = GaugeMetricFamily if typ == "gauge" else CounterMetricFamily
    theirs = cls("kraft_x", 'help with \\ and "quotes"\nand a line', labels=labels)
    for label_values, value in rows:
        ours.add_metric(label_values[:width], value)
        theirs.add_metric(list(label_values[:width]), value)
    text = ours.text()
    assert text.encode() == generate_latest(_Only(theirs)) == generate(_Only(ours))
    (parsed,) = text_string_to_metric_families(text)
    assert parsed.name == "kraft_x" and parsed.type == typ
    got = [(s.labels, s.value) for s in parsed.samples]
    want = [(dict(zip(labels, label_values, strict=False)), float(value)) for label_values, value in rows]
    assert got == want


def test_samples_are_made_from_the_rows() -> None:
    fam = TextFamily("kraft_y", "y", ["topic", "partition"], "counter")
    fam.add_metric(("t", "0"), 3)
    samples = [(s.name, s.labels, s.value) for s in fam.samples]
    assert samples == [("kraft_y_total", {"topic": "t", "partition": "0"}, 3)]
    with pytest.raises(TypeError):
        fam.samples = fam.samples


@pytest.mark.parametrize(("name", "labels", "typ"), [
    ("kraft-bad", ["topic"], "gauge"),  # not a metric name
    ("kraft_x", ["to pic"], "gauge"),  # not a label name
    ("kraft_x", ["topic", "topic"], "gauge"),  # twice
    ("kraft_x", ["le"], "gauge"),  # reserved for histograms
    ("kraft_x", ["topic"], "histogram"),  # neither gauge nor counter
])
def test_bad_families_are_refused(name: str, labels: list[str], typ: str) -> None:
    with pytest.raises(ValueError):
        TextFamily(name, "doc", labels, typ)


def test_a_row_with_the_wrong_number_of_label_values_is_refused() -> None:
    with pytest.raises(ValueError):
        TextFamily("kraft_x", "doc", ["topic", "partition"]).add_metric(("t",), 1)


@pytest.mark.parametrize(("value", "text"), [
    (0, "0.0"), (-1, "-1.0"), (999_999, "999999.0"), (1_000_000, "1e+06"), (12_345_678, "1.2345678e+07"),
    (10 ** 16, "1e+16"), (-(10 ** 15), "-1000000000000000.0"), (0.5, "0.5"), (math.inf, "+Inf"), (-math.inf, "-Inf"),
    (math.nan, "NaN"), (True, "1.0"),
])
def test_go_float(value: float, text: str) -> None:
    assert go_float(value) == text == floatToGoString(value)  # prometheus_client's, negatives never in e-form


@given(st.integers(min_value=-(10 ** 17), max_value=10 ** 17))
def test_go_float_of_any_int_is_prometheus_clients(value: int) -> None:
    assert go_float(value) == floatToGoString(value)


@pytest.mark.parametrize(("raw", "escaped"), [
    ("plain", "plain"), ('a"b', 'a\\"b'), ("a\\b", "a\\\\b"), ("a\nb", "a\\nb"), ("\\n", "\\\\n"),
])
def test_label_values_are_escaped_per_the_format(raw: str, escaped: str) -> None:
    assert escape_label_value(raw) == escaped
