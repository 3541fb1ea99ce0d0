"""What several Kafka handlers share: the way a handler asks for its connection to be closed."""

from __future__ import annotations


class CloseConnection(Exception):
    """Raised by a handler whose request must be answered by closing the connection (after the
    answers to the requests before it): a Produce with acks=0 that failed, as Kafka does, since the
    producer gets no answer and would otherwise never learn that it should refresh its metadata."""
