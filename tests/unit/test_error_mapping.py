"""Each front end's mapping from kraft errors to its wire codes: the native protocol carries kraft's
own codes (and a client gets the same class back); the Kafka front end has one explicit table, which
covers every kraft error class and names only codes Kafka has."""

from __future__ import annotations

import pytest
from kio.schema.errors import ErrorCode

from kraft import errors
from kraft.node.handlers._errors import request_error, set_partition_error, wire_code
from kraft.node.kafka.error_codes import (
    KAFKA_ERROR_CODES,
    UNKNOWN_SERVER_ERROR,
    kafka_code,
    kafka_code_for,
)

CLASSES = sorted(errors.all_error_classes().values(), key=lambda c: c.code)
# kraft names that differ from Kafka's for the same code.
KAFKA_NAMES = {errors.RecordTooLarge: "MESSAGE_TOO_LARGE"}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_native_codes_are_kraft_codes_and_come_back_as_the_same_class(cls: type[errors.KraftError]) -> None:
    e = cls("why")
    assert wire_code(e) == cls.code
    code, body = request_error(e)
    assert type(errors.error_for_code(code, body["message"])) is cls


def test_native_answers_carry_the_message_and_scalar_details_only() -> None:
    e = errors.NotLeader("moved", leader=3, seen={1, 2})
    assert request_error(e) == (6, {"message": "moved", "leader": 3})
    res = {"error_code": 0, "message": ""}
    set_partition_error(res, e)
    assert res == {"error_code": 6, "message": "moved", "leader": 3}
    res = {"error_code": 0, "message": ""}
    set_partition_error(res, errors.OffsetOutOfRange("far"))
    assert res == {"error_code": 1, "message": "far"}  # no leader key unless the error names one


def test_the_kafka_table_has_a_row_for_every_kraft_error() -> None:
    assert set(KAFKA_ERROR_CODES) == set(CLASSES)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_kafka_codes_are_kafkas_own(cls: type[errors.KraftError]) -> None:
    code = KAFKA_ERROR_CODES[cls]
    kafka = ErrorCode(code)  # raises for a code Kafka does not have
    if cls.code < 1000:  # kraft took Kafka's number (and name) for every error Kafka has
        assert code == cls.code
        assert kafka.name.upper() == KAFKA_NAMES.get(cls, cls.name)
    else:  # kraft's own errors have no Kafka meaning
        assert code == UNKNOWN_SERVER_ERROR


def test_kafka_lookups() -> None:
    assert kafka_code(errors.NotLeader("x")) == kafka_code(errors.NotLeader) == 6
    assert kafka_code(errors.TooManyInFlight("x")) == UNKNOWN_SERVER_ERROR

    class Narrower(errors.LeaderNotAvailable):
        pass

    assert kafka_code(Narrower("x")) == 5  # a subclass without a row answers as its parent
    assert kafka_code_for(0) == 0
    assert kafka_code_for(errors.OffsetOutOfRange.code) == 1
    assert kafka_code_for(errors.MalformedFrame.code) == UNKNOWN_SERVER_ERROR
    assert kafka_code_for(9999) == UNKNOWN_SERVER_ERROR
