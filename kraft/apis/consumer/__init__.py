"""The consumer: ``Consumer`` facade -> ``Fetcher`` (positions, buffers, fetch requests)."""

from .consumer import Consumer

__all__ = ["Consumer"]
