"""The topic-config table: one table of (key, raw value, canonical value or the reason it is refused)
drives the parser's tests; resolution, changes and the typed view are pure and tested the same way."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft import topic_config as tc
from kraft.errors import InvalidConfig, InvalidRequest
from kraft.topic_config import AlterOp, ConfigChange, Source

# (name, raw, canonical value)
GOOD: list[tuple[str, object, tc.ConfigValue]] = [
    ("cleanup.policy", "delete", "delete"),
    ("cleanup.policy", "compact", "compact"),
    ("cleanup.policy", "compact,delete", "compact,delete"),
    ("cleanup.policy", "delete,compact", "compact,delete"),  # one policy, one spelling
    ("cleanup.policy", " compact , delete ", "compact,delete"),
    ("retention.ms", "604800000", 604800000),
    ("retention.ms", "-1", -1),
    ("retention.ms", 0, 0),
    ("retention.ms", " 42 ", 42),
    ("retention.bytes", "-1", -1),
    ("retention.bytes", str(tc.LONG_MAX), tc.LONG_MAX),
    ("delete.retention.ms", "0", 0),
    ("min.compaction.lag.ms", 100, 100),
    ("max.compaction.lag.ms", "1", 1),
    ("min.cleanable.dirty.ratio", "0.5", 0.5),
    ("min.cleanable.dirty.ratio", "1", 1.0),
    ("min.cleanable.dirty.ratio", 0, 0.0),
    ("min.cleanable.dirty.ratio", ".25", 0.25),
    ("max.message.bytes", "1048588", 1048588),
    ("max.message.bytes", 0, 0),
    ("message.timestamp.type", "CreateTime", "CreateTime"),
    ("message.timestamp.type", "LogAppendTime", "LogAppendTime"),
    ("segment.bytes", "52428800", 52428800),  # what Kafka Streams sets on repartition topics
    ("segment.ms", "600000", 600000),
    ("min.insync.replicas", "2", 2),
    ("segment.bytes", "10000", 10000),  # librdkafka's 0077: nothing in kraft's log layout needs a floor
    ("segment.bytes", "14", 14),  # Kafka's minimum
    ("file.delete.delay.ms", "10000", 10000),  # stored only (librdkafka's 0077)
    ("file.delete.delay.ms", 0, 0),
    ("flush.ms", "12345678", 12345678),  # librdkafka's 0081 alters it
    ("flush.messages", "1", 1),
    ("retention.ms", "0" * 5000 + "1", 1),  # leading zeros count in Python's int() limit, not here
    ("retention.ms", "-0001", -1),
    ("retention.ms", "+0", 0),
    ("compression.type", "producer", "producer"),
    ("compression.type", "zstd", "zstd"),
    ("compression.type", "uncompressed", "uncompressed"),
    ("message.format.version", "0.10.0.0", "0.10.0.0"),  # KIP-724: accepted and ignored (librdkafka's 0092)
    ("message.format.version", "2.8-IV1", "2.8-IV1"),
    ("message.format.version", "0.8.0", "0.8.0"),
]

# (name, raw, words the reason must contain)
BAD: list[tuple[str, object, str]] = [
    ("retention.ms", "abc", "'abc' is not an integer"),
    ("retention.ms", "-2", "-2 is out of range (-1..9223372036854775807 ms)"),
    ("retention.ms", "9" * 10_000, "(10000 digits) is out of range"),  # Python's int() would raise ValueError
    ("retention.ms", "1.5", "not an integer"),
    ("retention.ms", True, "not an integer"),
    ("retention.ms", 1.0, "not an integer"),
    ("retention.ms", None, "has no value"),
    ("retention.ms", "", "not an integer"),
    ("retention.bytes", "-5", "out of range"),
    ("retention.bytes", str(tc.LONG_MAX + 1), "out of range"),
    ("delete.retention.ms", "-1", "out of range (0.."),
    ("max.compaction.lag.ms", "0", "out of range (1.."),
    ("min.cleanable.dirty.ratio", "1.5", "1.5 is out of range (0.0..1.0)"),
    ("min.cleanable.dirty.ratio", "-0.1", "out of range"),
    ("min.cleanable.dirty.ratio", "nan", "not a number"),
    ("min.cleanable.dirty.ratio", "1e999", "not a finite number"),
    ("min.cleanable.dirty.ratio", "half", "not a number"),
    ("max.message.bytes", str(tc.INT_MAX + 1), "out of range (0..2147483647 bytes)"),
    ("max.message.bytes", "-1", "out of range"),
    ("message.timestamp.type", "createtime", "is not one of CreateTime | LogAppendTime"),
    ("message.timestamp.type", 1, "is not one of"),
    ("cleanup.policy", "", "empty item"),
    ("cleanup.policy", "compact,", "empty item"),
    ("cleanup.policy", "compact,compact", "twice"),
    ("cleanup.policy", "remove", "'remove' is not one of compact, delete"),
    ("cleanup.policy", ["compact"], "not a comma-separated list"),
    ("segment.bytes", "13", "out of range (14.."),
    ("file.delete.delay.ms", "-1", "out of range (0.."),
    ("flush.ms", "-1", "out of range (0.."),
    ("flush.messages", "0", "out of range (1.."),
    ("compression.type", "lz5", "is not one of uncompressed | zstd | lz4 | snappy | gzip | producer"),
    ("compression.type", "none", "is not one of"),  # the producer's name for it; the topic's is uncompressed
    ("message.format.version", "ten", "is not a Kafka version"),
    ("message.format.version", "0.10.0.0.0", "is not a Kafka version"),
    ("message.format.version", 10, "is not a Kafka version"),
    ("min.insync.replicas", "0", "out of range (1.."),
    ("compression.codec", "lz4", "unknown topic config"),
    ("retention.hours", "1", "unknown topic config (did you mean 'retention.ms'?)"),
]


@pytest.mark.parametrize(("name", "raw", "value"), GOOD, ids=lambda v: repr(v))
def test_good_values_parse_to_their_canonical_form(name: str, raw: object, value: tc.ConfigValue) -> None:
    got = tc.parse_value(name, raw)
    assert got == value and type(got) is type(value)
    assert tc.parse_value(name, tc.format_value(got)) == got, "the text form parses back to the same value"


@pytest.mark.parametrize(("name", "raw", "reason"), BAD, ids=lambda v: repr(v))
def test_bad_values_are_invalid_config_naming_the_key_and_the_reason(name: str, raw: object, reason: str) -> None:
    with pytest.raises(InvalidConfig) as info:
        tc.parse_value(name, raw)
    assert info.value.code == 40
    assert info.value.message.startswith(f"{name}: ")
    assert reason in info.value.message
    assert info.value.details["key"] == name


def test_every_default_is_valid_and_every_key_has_one_row() -> None:
    assert len(tc.BY_NAME) == len(tc.CONFIGS)
    assert len(tc.BY_CLUSTER_KEY) == sum(1 for c in tc.CONFIGS if c.cluster_key is not None)
    for key in tc.CONFIGS:
        assert tc.parse_value(key.name, tc.format_value(key.default)) == key.default, key.name
        # cluster.ini keys are Kafka's broker names, with _ for .
        assert key.cluster_key in (None, key.broker_name.replace(".", "_")), key.name


def test_kafka_defaults() -> None:
    defaults = {k.name: k.default for k in tc.CONFIGS}
    assert defaults["cleanup.policy"] == "delete"
    assert defaults["retention.ms"] == 7 * 24 * 3600 * 1000
    assert defaults["retention.bytes"] == -1
    assert defaults["delete.retention.ms"] == 24 * 3600 * 1000
    assert defaults["min.compaction.lag.ms"] == 0
    assert defaults["max.compaction.lag.ms"] == 2**63 - 1
    assert defaults["min.cleanable.dirty.ratio"] == 0.5
    assert defaults["max.message.bytes"] == 1048576  # kraft's max_record_bytes, not Kafka's 1048588
    assert defaults["message.timestamp.type"] == "CreateTime"


def test_a_set_of_configs_is_refused_whole_naming_every_bad_key() -> None:
    with pytest.raises(InvalidConfig) as info:
        tc.validate_configs({"retention.ms": "1000", "retention.bytes": "x", "bogus": "1", "cleanup.policy": "compact"})
    message = info.value.message
    assert "retention.bytes: 'x' is not an integer" in message and "bogus: unknown topic config" in message
    assert "retention.ms:" not in message and "cleanup.policy:" not in message
    assert tc.validate_configs({"retention.ms": "1000", "cleanup.policy": "delete,compact"}) == {
        "retention.ms": 1000, "cleanup.policy": "compact,delete"}
    assert tc.validate_configs({}) == {}


@pytest.mark.parametrize(("value", "text"),
                         [(0.5, "0.5"), (1.0, "1.0"), (0.0, "0.0"), (-1, "-1"), ("delete", "delete")])
def test_values_are_written_as_kafka_writes_them(value: tc.ConfigValue, text: str) -> None:
    assert tc.format_value(value) == text


# --- resolution -------------------------------------------------------------------------------------

# (topic's configs, cluster.ini's, expected (value, source, default) of retention.ms)
RESOLUTION = [
    ({}, {}, (604800000, Source.DEFAULT, 604800000)),
    ({}, {"retention.ms": 1000}, (1000, Source.CLUSTER, 1000)),
    ({"retention.ms": 5}, {"retention.ms": 1000}, (5, Source.TOPIC, 1000)),
    ({"retention.ms": "5"}, {}, (5, Source.TOPIC, 604800000)),  # stored as a Kafka client sent it
    ({"retention.ms": "junk"}, {}, (604800000, Source.DEFAULT, 604800000)),  # stored before validation
]


@pytest.mark.parametrize(("topic", "cluster", "expected"), RESOLUTION)
def test_resolution_says_each_values_source(topic: dict[str, object], cluster: dict[str, tc.ConfigValue],
                                            expected: tuple[object, Source, object]) -> None:
    resolved = tc.resolve(topic, cluster)
    assert list(resolved) == [k.name for k in tc.CONFIGS]
    entry = resolved["retention.ms"]
    assert (entry.value, entry.source, entry.default) == expected
    assert all(r.source is Source.DEFAULT for n, r in resolved.items() if n != "retention.ms")


def test_unknown_stored_configs_are_ignored_by_resolution() -> None:
    resolved = tc.resolve({"compression.codec": "lz4", "segment.bytes": "tiny"}, {})
    assert "compression.codec" not in resolved
    assert resolved["segment.bytes"].source is Source.DEFAULT, "an invalid stored value is not used"


def test_rules_between_keys() -> None:
    ok = tc.resolve({"min.compaction.lag.ms": 10, "max.compaction.lag.ms": 10}, {})
    tc.check_effective(ok, max_record_bytes=1 << 20)
    with pytest.raises(InvalidConfig, match=r"min.compaction.lag.ms: 10 is more than max.compaction.lag.ms \(5\)"):
        tc.check_effective(tc.resolve({"min.compaction.lag.ms": 10}, {"max.compaction.lag.ms": 5}),
                           max_record_bytes=1 << 20)
    with pytest.raises(InvalidConfig, match=r"max.message.bytes: 2000 is over .* max_record_bytes \(1000\)"):
        tc.check_effective(tc.resolve({"max.message.bytes": 2000}, {}), max_record_bytes=1000)


def test_log_config_is_the_typed_effective_view() -> None:
    cfg = tc.log_config({"cleanup.policy": "compact,delete", "retention.bytes": "100"},
                        {"retention.ms": 1000, "message.timestamp.type": "LogAppendTime"})
    assert cfg.cleanup_policy == frozenset({"compact", "delete"}) and cfg.compact and cfg.delete
    assert (cfg.retention_ms, cfg.retention_bytes, cfg.log_append_time) == (1000, 100, True)
    assert (cfg.min_cleanable_dirty_ratio, cfg.max_message_bytes) == (0.5, 1048576)
    plain = tc.log_config({}, {})
    assert (plain.compact, plain.delete, plain.log_append_time) == (False, True, False)


# --- changes ----------------------------------------------------------------------------------------

# (topic's configs, cluster.ini's, changes, replace, expected configs after)
CHANGES: list[tuple[dict[str, object], dict[str, tc.ConfigValue], list[ConfigChange], bool, dict[str, object]]] = [
    ({}, {}, [ConfigChange("retention.ms", AlterOp.SET, "1000")], False, {"retention.ms": 1000}),
    ({"retention.ms": 5}, {}, [ConfigChange("retention.ms", AlterOp.DELETE)], False, {}),
    ({}, {}, [ConfigChange("retention.ms", AlterOp.DELETE)], False, {}),  # deleting what is not set: fine
    ({"retention.ms": 5, "segment.ms": 9}, {}, [ConfigChange("retention.bytes", AlterOp.SET, "7")], True,
     {"retention.bytes": 7}),  # Kafka's AlterConfigs: what is not given goes back to its default
    ({}, {}, [ConfigChange("cleanup.policy", AlterOp.APPEND, "compact")], False, {"cleanup.policy": "compact,delete"}),
    ({}, {"cleanup.policy": "compact"}, [ConfigChange("cleanup.policy", AlterOp.APPEND, "delete")], False,
     {"cleanup.policy": "compact,delete"}),  # appends to the value the topic has now
    ({"cleanup.policy": "compact,delete"}, {}, [ConfigChange("cleanup.policy", AlterOp.SUBTRACT, "delete")], False,
     {"cleanup.policy": "compact"}),
    ({"cleanup.policy": "compact"}, {}, [ConfigChange("cleanup.policy", AlterOp.APPEND, "compact")], False,
     {"cleanup.policy": "compact"}),
]


@pytest.mark.parametrize(("current", "cluster", "changes", "replace", "after"), CHANGES)
def test_changes_plan_one_update(current: dict[str, object], cluster: dict[str, tc.ConfigValue],
                                 changes: list[ConfigChange], replace: bool, after: dict[str, object]) -> None:
    update = tc.plan_update(current, cluster, changes, replace=replace)
    assert update.applied_to(tc.validate_configs(current)) == after


# (changes, error class, words of the message)
BAD_CHANGES: list[tuple[list[ConfigChange], type[Exception], str]] = [
    ([ConfigChange("retention.ms", AlterOp.SET, "x"), ConfigChange("retention.bytes", AlterOp.SET, "1")],
     InvalidConfig, "retention.ms: 'x' is not an integer"),
    ([ConfigChange("retention.ms", AlterOp.APPEND, "1")], InvalidConfig,
     "retention.ms: APPEND is only for list configs"),
    ([ConfigChange("bogus", AlterOp.DELETE)], InvalidConfig, "bogus: unknown topic config"),
    ([ConfigChange("cleanup.policy", AlterOp.SUBTRACT, "delete")], InvalidConfig, "cleanup.policy: '' has an empty"),
    ([ConfigChange("cleanup.policy", AlterOp.APPEND, "shred")], InvalidConfig, "'shred' is not one of"),
    ([ConfigChange("retention.ms", AlterOp.SET, "1"), ConfigChange("retention.ms", AlterOp.DELETE)],
     InvalidRequest, "'retention.ms' is given twice"),
]


@pytest.mark.parametrize(("changes", "error", "words"), BAD_CHANGES)
def test_bad_changes_are_refused_whole(changes: list[ConfigChange], error: type[Exception], words: str) -> None:
    with pytest.raises(error) as info:
        tc.plan_update({}, {}, changes)
    assert words in str(info.value)


@given(st.dictionaries(st.sampled_from([k.name for k in tc.CONFIGS]),
                       st.one_of(st.integers(), st.floats(allow_nan=True), st.text(max_size=12), st.none(),
                                 st.booleans()), max_size=5))
def test_any_input_either_validates_or_is_invalid_config(configs: dict[str, object]) -> None:
    try:
        clean = tc.validate_configs(configs)
    except InvalidConfig:
        return
    assert tc.validate_configs({k: tc.format_value(v) for k, v in clean.items()}) == clean
