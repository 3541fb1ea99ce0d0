"""Single-message transforms and the change-event envelope."""

from __future__ import annotations

import json

import pytest

from kraft.apis.connect.envelope import change_event, row_change, to_bytes
from kraft.apis.connect.transforms import Message, apply_all, build_transforms


def event(op: str, before: dict | None, after: dict | None) -> dict:
    return change_event(op, before, after, {"table": "orders"}, ts_ms=1)


def run(specs: list[dict], value: object, topic: str = "t") -> Message | None:
    return apply_all(build_transforms(specs, "test"), Message(topic, None, value))


def test_rename_and_drop_change_both_images_of_a_change_event() -> None:
    msg = run([{"type": "rename", "renames": {"qty": "quantity"}}, {"type": "drop", "fields": ["secret"]}],
              event("u", {"id": 1, "qty": 1, "secret": "x"}, {"id": 1, "qty": 2, "secret": "y"}))
    assert msg is not None
    assert msg.value["before"] == {"id": 1, "quantity": 1} and msg.value["after"] == {"id": 1, "quantity": 2}
    plain = run([{"type": "drop", "fields": ["b"]}], {"a": 1, "b": 2})
    assert plain is not None and plain.value == {"a": 1}
    text = run([{"type": "drop", "fields": ["b"]}], "a line")
    assert text is not None and text.value == "a line"


def test_rename_of_a_key_column_renames_it_in_the_key_too() -> None:
    transforms = build_transforms([{"type": "rename", "renames": {"id": "order_id"}}], "test")
    msg = apply_all(transforms, Message("t", {"id": 1}, event("c", None, {"id": 1, "qty": 2})))
    assert msg is not None and msg.key == {"order_id": 1}
    assert row_change(msg.key, msg.value) == ("upsert", {"order_id": 1}, {"order_id": 1, "qty": 2})


def test_filter_by_field_value_list_and_op() -> None:
    paid = [{"type": "filter", "field": "status", "equals": "paid"}]
    assert run(paid, {"status": "paid"}) is not None
    assert run(paid, {"status": "open"}) is None
    assert run(paid, {"other": 1}) is None
    assert run([{"type": "filter", "field": "status", "equals": "paid", "exclude": True}], {"status": "paid"}) is None
    assert run([{"type": "filter", "field": "n", "in": ["1", "2"]}], {"n": 2}) is not None
    # A delete is judged by its before image.
    assert run(paid, event("d", {"status": "paid"}, None)) is not None
    no_deletes = [{"type": "filter", "ops": ["c", "u", "r"]}]
    assert run(no_deletes, event("d", {"id": 1}, None)) is None
    assert run(no_deletes, event("c", None, {"id": 1})) is not None


def test_route_by_field_value() -> None:
    route = [{"type": "route", "field": "region", "topic": "{topic}.{value}"}]
    msg = run(route, event("c", None, {"id": 1, "region": "eu"}), topic="orders")
    assert msg is not None and msg.topic == "orders.eu"
    msg = run(route, {"id": 1}, topic="orders")
    assert msg is not None and msg.topic == "orders"  # no such field: stays


def test_row_change_reads_envelopes_plain_rows_and_tombstones() -> None:
    key = b'{"id":1}'
    assert row_change(key, to_bytes(event("c", None, {"id": 1, "a": 2}))) == ("upsert", {"id": 1}, {"id": 1, "a": 2})
    assert row_change(key, to_bytes(event("d", {"id": 1, "a": 2}, None))) == ("delete", {"id": 1}, {"id": 1, "a": 2})
    assert row_change(key, None) == ("delete", {"id": 1}, None)
    assert row_change(None, b'{"id": 3}') == ("upsert", {}, {"id": 3})
    with pytest.raises(ValueError, match="JSON object"):
        row_change(key, b"[1, 2]")
    with pytest.raises(ValueError):
        change_event("x", None, None, {})


def test_to_bytes_is_compact_utf8_json() -> None:
    assert to_bytes({"a": "é", "b": [1]}) == json.dumps({"a": "é", "b": [1]}, separators=(",", ":"),
                                                        ensure_ascii=False).encode()
    assert to_bytes("x") == b"x" and to_bytes(None) is None and to_bytes(b"\x00") == b"\x00"
