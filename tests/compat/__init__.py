"""Kafka clients' own test suites run against a real kraft cluster (``make compat``)."""
