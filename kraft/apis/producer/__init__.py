"""The producer: ``Producer`` facade -> ``RecordAccumulator`` -> ``Sender``."""

from .producer import Producer

__all__ = ["Producer"]
