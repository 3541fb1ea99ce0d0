"""``gc_paused()``: the cyclic garbage collector held off while a consumer builds many objects at once.

Decoding a fetched batch makes one tuple per record and handing records to ``poll`` one
``ConsumerRecord`` and one headers list per record. The collector runs every 700 allocations of
container objects, and each of its passes walks the half-built batch again (and a full pass every
object of the process): on the consumer's hot path that cost about as much as the decoding itself
(BENCHMARKS.md, 2026-12-04 night). msgpack's documentation gives the same advice for unpacking
large messages. The pause lasts one batch or one ``poll``'s records (milliseconds); the objects made
meanwhile are looked at by the next collection, once, as usual.

:func:`collect_young_if_due` runs the collector's middle pass (generation 1) a little early, at the
start of a ``poll``, when the previous ``poll``'s records are usually gone: left to itself it runs
right after a ``poll`` built its records, finds them alive, and moves them to the oldest generation,
whose full passes (every object of the process, each pass costing milliseconds) they then trigger
every few tens of thousands of records.

Owns only these switches; neither may be used around anything that waits (I/O, locks, user code).
If the application disabled the collector itself, both leave it alone.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def collect_young_if_due() -> None:
    """Collect generations 0 and 1 now if the next automatic pass would be a generation-1 pass."""
    if gc.isenabled() and gc.get_count()[1] >= gc.get_threshold()[1] - 1:
        gc.collect(1)
