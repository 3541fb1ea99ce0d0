"""Kafka request and response frames, sans-I/O: bytes in, plain dicts out, and back.

Owns: the size-prefixed framing, request headers, and the translation between kio's generated
message classes (one per API key and version, from Kafka's own JSON schemas) and plain dicts, so a
handler is written once against field names and serves every version it advertises: fields a
version does not have are left out of its encoding, fields a handler does not set get their
schema default (or an empty value of their type).
Must not: know what any API means (the handlers in ``kraft.node.kafka`` do).

Produce v0-2, Fetch v0-3 and ListOffsets v0, which kio does not generate, are ``legacy``'s. Record
batches travel as opaque ``bytes`` in both directions (``records`` fields): kio never decodes them
here (it cannot do so faithfully; see ``kraft.protocol.kafka.records``).
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import io
import struct
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any

from kio.index import UnknownAPIKey, UnknownEntity, load_request_schema, load_response_schema
from kio.schema.errors import ErrorCode
from kio.serial import entity_reader, entity_writer

from kraft import errors
from kraft.protocol.kafka import legacy

SIZE = struct.Struct(">i")
REQUEST_PREFIX = struct.Struct(">hhi")  # api key, api version, correlation id: the same in every header version
API_VERSIONS_KEY = 18
UNSUPPORTED_VERSION = 35
_ZERO = datetime.timedelta(0)
_MS = datetime.timedelta(milliseconds=1)
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


class UnsupportedApi(Exception):
    """kio has no schema for this (key, version): the broker answers UNSUPPORTED_VERSION."""


@dataclass(frozen=True, slots=True)
class KafkaRequest:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    body: dict[str, Any]


class KafkaFrameDecoder:
    """Splits a byte stream into request frames (int32 size, then that many bytes)."""

    def __init__(self, max_frame_bytes: int) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_frame(self) -> bytes | None:
        if len(self._buf) < 4:
            return None
        (size,) = SIZE.unpack_from(self._buf, 0)
        if size < REQUEST_PREFIX.size:
            raise errors.MalformedFrame(f"request frame of {size} bytes is shorter than a request header")
        if size > self.max_frame_bytes:
            raise errors.FrameTooLarge(f"request frame of {size} bytes is over max_frame_bytes={self.max_frame_bytes}")
        if len(self._buf) < 4 + size:
            return None
        with memoryview(self._buf) as view:  # one copy of the frame, not a slice and then a copy
            frame = bytes(view[4:4 + size])
        del self._buf[:4 + size]
        return frame


def peek_header(frame: bytes) -> tuple[int, int, int]:
    """(api key, api version, correlation id): readable even when the rest of the frame is not."""
    return REQUEST_PREFIX.unpack_from(frame, 0)


def decode_request(frame: bytes) -> KafkaRequest:
    """The request in ``frame``. UnsupportedApi if kio has no schema for its key and version;
    MalformedFrame if the header or body does not parse. Trailing bytes are tolerated (librdkafka
    sends some after a Metadata v13 body)."""
    api_key, api_version, _ = peek_header(frame)
    if legacy.is_legacy(api_key, api_version):
        correlation_id, client_id, pos = legacy.read_header(frame)
        return KafkaRequest(api_key, api_version, correlation_id, client_id,
                            legacy.decode_request(api_key, api_version, frame, pos))
    schema = _request_schema(api_key, api_version)
    view = memoryview(frame)
    try:
        header, pos = _reader(schema.__header_schema__)(view, 0)
        body, _ = _reader(schema)(view, pos)
    except Exception as e:  # kio raises several types on short or inconsistent input
        raise errors.MalformedFrame(f"undecodable {schema.__name__} v{api_version}: {type(e).__name__}: {e}") from None
    return KafkaRequest(api_key, api_version, header.correlation_id, header.client_id, to_plain(body))


def encode_response(api_key: int, api_version: int, correlation_id: int, body: dict[str, Any]) -> bytes:
    """One size-prefixed response frame. ``body`` names fields as the schema does; missing ones get
    defaults. ApiVersions responses always use header v0 (clients parse it before knowing versions)."""
    if legacy.is_legacy(api_key, api_version):
        payload = struct.pack(">i", correlation_id) + legacy.encode_response(api_key, api_version, body)
        return SIZE.pack(len(payload)) + payload
    schema = _response_schema(api_key, api_version)
    out = io.BytesIO()
    out.write(b"\0\0\0\0")
    header_cls = schema.__header_schema__
    _writer(header_cls)(out, header_cls(correlation_id=correlation_id))
    _writer(schema)(out, build(schema, body))
    data = out.getbuffer()
    SIZE.pack_into(data, 0, len(data) - 4)
    return bytes(data)


def encode_unsupported(correlation_id: int) -> bytes:
    """An answer to a key or version nobody can encode a response for: a v0 header and error code
    UNSUPPORTED_VERSION, which is also what an ApiVersions v0 error response starts with."""
    payload = struct.pack(">ihi", correlation_id, UNSUPPORTED_VERSION, 0)
    return SIZE.pack(len(payload)) + payload


def has_schema(api_key: int, api_version: int) -> bool:
    if legacy.is_legacy(api_key, api_version):
        return True
    try:
        _request_schema(api_key, api_version)
        _response_schema(api_key, api_version)
    except UnsupportedApi:
        return False
    return True


# --- entities <-> dicts --------------------------------------------------------------------------


def to_plain(entity: Any) -> Any:
    """A kio entity as dicts, lists and plain scalars (bytes stay bytes)."""
    kind = type(entity)
    if kind is int or kind is bytes or kind is str or kind is bool or entity is None:
        return entity  # most fields: nothing to convert
    names = _plain_fields(kind)
    if names is not None:
        return {name: to_plain(getattr(entity, name)) for name in names}
    if isinstance(entity, tuple):
        return [to_plain(v) for v in entity]
    if isinstance(entity, datetime.timedelta):
        # Exact: total_seconds() is a float, and 1.001 * 1000 truncates to 1000.
        return entity // _MS
    if isinstance(entity, datetime.datetime):
        return (entity - _EPOCH) // _MS
    if isinstance(entity, bytes):
        return bytes(entity)
    if isinstance(entity, bool):
        return entity
    if isinstance(entity, int):
        return int(entity)
    if isinstance(entity, str):
        return str(entity)
    return entity


_PLAIN_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _plain_fields(kind: type) -> tuple[str, ...] | None:
    """The field names of a kio message class (None: not one)."""
    try:
        return _PLAIN_FIELDS[kind]
    except KeyError:
        names = tuple(f.name for f in dataclasses.fields(kind)) if dataclasses.is_dataclass(kind) else None
        _PLAIN_FIELDS[kind] = names
        return names


def build(cls: type, data: dict[str, Any]) -> Any:
    """An instance of the kio class ``cls`` from ``data``; unknown keys are ignored (another version
    has them), missing ones take their default."""
    kwargs = {}
    for name, convert, required, empty in _plan(cls):
        if name in data:
            value = data[name]
            kwargs[name] = None if value is None else convert(value)
        elif required:
            kwargs[name] = empty()
    return cls(**kwargs)


_Converter = typing.Callable[[Any], Any]


@cache
def _plan(cls: type) -> tuple[tuple[str, _Converter, bool, typing.Callable[[], Any]], ...]:
    """Per field of ``cls``: (name, how a plain value becomes the field's, whether it has no
    default, its empty value): worked out once per class, since a response is built per request."""
    return tuple((name, _converter(kind), default is dataclasses.MISSING, functools.partial(_empty, kind))
                 for name, kind, default in _fields(cls))


def _converter(kind: Any) -> _Converter:
    """How a plain (non-None) value becomes a value of the field type ``kind``."""
    inner = _entity_of(kind)
    if inner is not None:
        if typing.get_origin(_strip_optional(kind)) is tuple:
            return lambda value: tuple(build(inner, v) if isinstance(v, dict) else v for v in value)
        return lambda value: build(inner, value) if isinstance(value, dict) else value
    base = _strip_optional(kind)
    if typing.get_origin(base) is tuple:
        return tuple
    if base is ErrorCode:
        return error_code
    if isinstance(base, type) and issubclass(base, datetime.timedelta):
        return lambda value: datetime.timedelta(milliseconds=value) if isinstance(value, int) else value
    if isinstance(base, type) and issubclass(base, datetime.datetime):
        nullable = base is not kind

        def to_datetime(value: Any) -> Any:
            if not isinstance(value, int):
                return value
            # ms since the epoch; -1 (Kafka's "none") is None where the field is nullable, else the epoch
            if value < 0:
                return None if nullable else _EPOCH
            return _EPOCH + datetime.timedelta(milliseconds=value)

        return to_datetime
    return _same


def _same(value: Any) -> Any:
    return value


def error_code(code: int) -> ErrorCode:
    """Kafka's error for a kraft code: codes below 1000 are Kafka's own; kraft's others have none."""
    member = ErrorCode._value2member_map_.get(code)
    return member if isinstance(member, ErrorCode) else ErrorCode.unknown_server_error


def _empty(kind: Any) -> Any:
    base = _strip_optional(kind)
    if base is not kind:
        return None
    if typing.get_origin(base) is tuple:
        return ()
    if base is ErrorCode:
        return ErrorCode.none
    if isinstance(base, type):
        if issubclass(base, datetime.timedelta):
            return _ZERO
        if issubclass(base, datetime.datetime):
            return _EPOCH
        if issubclass(base, bool):
            return False
        if issubclass(base, int):
            return 0
        if issubclass(base, str):
            return ""
        if issubclass(base, bytes):
            return b""
        if dataclasses.is_dataclass(base):
            return build(base, {})
    return None


def _strip_optional(kind: Any) -> Any:
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return kind


def _entity_of(kind: Any) -> type | None:
    """The nested message class in a field's type (``X``, ``X | None`` or ``tuple[X, ...]``)."""
    base = _strip_optional(kind)
    if typing.get_origin(base) is tuple:
        base = typing.get_args(base)[0]
    return base if isinstance(base, type) and dataclasses.is_dataclass(base) else None


@cache
def _fields(cls: type) -> tuple[tuple[str, Any, Any], ...]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
        out.append((f.name, hints[f.name], default))
    return tuple(out)


@cache
def _request_schema(api_key: int, api_version: int) -> Any:
    try:
        return load_request_schema(api_key, api_version)
    except (UnknownAPIKey, UnknownEntity):
        raise UnsupportedApi(f"api key {api_key} version {api_version}") from None


@cache
def _response_schema(api_key: int, api_version: int) -> Any:
    try:
        return load_response_schema(api_key, api_version)
    except (UnknownAPIKey, UnknownEntity):
        raise UnsupportedApi(f"api key {api_key} version {api_version}") from None


@cache
def _reader(cls: type) -> Any:
    return entity_reader(cls)


@cache
def _writer(cls: type) -> Any:
    return entity_writer(cls)
