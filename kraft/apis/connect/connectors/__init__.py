"""Connectors that ship with kraft: files, SQLite and PostgreSQL."""
