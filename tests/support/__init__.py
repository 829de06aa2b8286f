"""Helpers the integration tests share: real platform processes, PostgreSQL, test doubles."""
