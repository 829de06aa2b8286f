"""Accounting and billing: one ledger of usage, prices, contributed hardware, monthly statements.

- `ledger.collect(session)` turns finished jobs and gateway calls into ledger rows (idempotent);
  `collector.Collector` runs it in the background of a server.
- `prices` holds the price table (exact resource, else its kind); `contributions` the credit
  hours groups get for hardware they contributed.
- `statements.statement(session, period, user=..., account=...)` prices a month of the ledger.
"""
