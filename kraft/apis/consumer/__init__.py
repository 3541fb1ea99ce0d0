"""The consumer: ``Consumer`` facade -> ``Fetcher`` (positions, buffers, fetch requests) and, with a
``group_id``, ``GroupClient`` (coordinator, join/heartbeat/commit) over the pure ``Membership``,
``Subscription`` and ``CommitTracker``."""

from .consumer import Consumer

__all__ = ["Consumer"]
