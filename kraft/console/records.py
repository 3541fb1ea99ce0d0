"""How the message browser shows a record's key, value and headers: text, JSON pretty-printed, or hex.

Owns: ``show`` (bytes -> the kind it was shown as and the text), the choice ``auto`` makes (UTF-8
text without control characters is text, and JSON when it parses as an object or array; anything
else is hex), ``matches`` (the browser's substring filter, on the bytes and on their text) and the
limit on what one cell shows (``SHOWN_BYTES_MAX``).
Pure: no cluster, no markup (the page escapes what this returns).
Must not: change the bytes it is given, or fail on any input (binary data is data).
"""

from __future__ import annotations

import json

FORMATS = ("auto", "text", "json", "hex")
SHOWN_BYTES_MAX = 16 * 1024  # a cell shows this much of a key or value, and says what it left out


def _text(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(ord(c) < 32 and c not in "\t\n\r" for c in text):
        return None  # control characters: binary data that happens to be valid UTF-8
    return text


def _text_prefix(cut: bytes) -> str | None:
    """The text of a value cut at ``SHOWN_BYTES_MAX``, which may have split a multi-byte character."""
    for trim in range(4):
        text = _text(cut[:len(cut) - trim])
        if text is not None:
            return text
    return None


def _hex(data: bytes) -> str:
    rows = []
    for i in range(0, len(data), 16):
        chunk = data[i:i + 16]
        rows.append(f"{i:08x}  {chunk.hex(' '):<47}  {''.join(chr(b) if 32 <= b < 127 else '.' for b in chunk)}")
    return "\n".join(rows)


def show(data: bytes | None, fmt: str = "auto") -> tuple[str, str]:
    """(kind, text) of ``data`` in ``fmt``: kind is null, text, json or hex (what it is shown as;
    ``json`` or ``text`` asked of bytes that are not falls back to hex)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if data is None:
        return "null", "null"
    cut = data[:SHOWN_BYTES_MAX]
    more = f"\n… {len(data) - len(cut)} more bytes" if len(data) > len(cut) else ""
    if fmt == "hex":
        return "hex", _hex(cut) + more
    text = _text(data) if not more else _text_prefix(cut)
    if text is None:
        return "hex", _hex(cut) + more
    if fmt in ("auto", "json") and not more:
        stripped = text.lstrip()
        if fmt == "json" or stripped[:1] in ("{", "["):  # auto: a bare 42 or "x" reads better as text
            try:
                return "json", json.dumps(json.loads(text), indent=2, ensure_ascii=False)
            except ValueError:
                pass
    return "text", text + more


def matches(needle: str, *fields: bytes | None) -> bool:
    """True when ``needle`` (empty: always) is in one of ``fields`` (its UTF-8 bytes, so binary
    values can be searched by their text parts too)."""
    if not needle:
        return True
    raw = needle.encode()
    return any(f is not None and raw in f for f in fields)
