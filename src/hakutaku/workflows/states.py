"""States of a workflow task and a campaign, as the journal stores them."""

from __future__ import annotations

PENDING = "pending"  # waiting for room in its pool
RUNNING = "running"  # handed to Parsl (a slot is held for it)
DONE = "done"
FAILED = "failed"
TIMEOUT = "timeout"
CANCELLED = "cancelled"
FINAL = frozenset({DONE, FAILED, TIMEOUT, CANCELLED})

# campaigns
CAMPAIGN_RUNNING = "running"
CAMPAIGN_FINISHED = "finished"
CAMPAIGN_FAILED = "failed"
CAMPAIGN_CANCELLED = "cancelled"
CAMPAIGN_FINAL = frozenset({CAMPAIGN_FINISHED, CAMPAIGN_FAILED, CAMPAIGN_CANCELLED})
