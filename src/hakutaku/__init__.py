"""Hakutaku (白泽, HAI): an open AI platform for high-energy physics."""

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from hakutaku.sdk.client import Client

__all__ = ["Client", "__version__"]


def __getattr__(name: str) -> Any:
    # Imported lazily so that `import hakutaku` stays cheap for workers and the CLI.
    if name == "Client":
        from hakutaku.sdk.client import Client

        return Client
    raise AttributeError(f"module 'hakutaku' has no attribute {name!r}")
