"""Metering: usage events (batched writes), later rate limits and quotas."""
