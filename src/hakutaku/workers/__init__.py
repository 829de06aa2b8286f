"""Host any Python object as a platform model: `RemoteModel`, `@remote`, the worker runtime."""

from hakutaku.workers.remote import RemoteModel, remote

__all__ = ["RemoteModel", "remote"]
