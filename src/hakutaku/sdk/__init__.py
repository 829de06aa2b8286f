"""Python SDK: `Client` for models, remote models and the platform API."""

from hakutaku.sdk.client import Client
from hakutaku.sdk.errors import APIError

__all__ = ["APIError", "Client"]
