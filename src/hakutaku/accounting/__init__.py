"""Accounting: one ledger of usage (jobs and model calls), prices, contributions, statements."""
