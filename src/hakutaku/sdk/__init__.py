"""Python SDK: `Client`, with one resource per part of the platform's API (docs/sdk.md).

    from hakutaku import Client
    client = Client()
    client.jobs.list(); client.hub.weights.list("pfn"); client.usage.statement()

Methods return the server's JSON as plain dicts and lists; every error the platform answers is
an `APIError` (`status`, `type`, `code`, `param`, `message`).
"""

from hakutaku.sdk.client import Client
from hakutaku.sdk.errors import APIError, ChecksumMismatch, ConnectionFailed

__all__ = ["APIError", "ChecksumMismatch", "Client", "ConnectionFailed"]
