"""playingpack: record, replay and debug LLM API calls through a local proxy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from playingpack.config import Config, define_config

if TYPE_CHECKING:
    from playingpack.serving import Serving, serve

__version__ = "0.1.0"

__all__ = ["Config", "Serving", "__version__", "define_config", "serve"]


def __getattr__(name: str) -> Any:
    # serve() pulls in asyncio; importing playingpack (e.g. as a pytest plugin) should not.
    if name in ("serve", "Serving"):
        from playingpack import serving

        return getattr(serving, name)
    raise AttributeError(f"module 'playingpack' has no attribute {name!r}")
