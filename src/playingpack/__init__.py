"""playingpack: record, replay and debug LLM API calls through a local proxy."""

from __future__ import annotations

from playingpack.config import Config, define_config
from playingpack.serving import Serving, serve

__version__ = "0.1.0"

__all__ = ["Config", "Serving", "__version__", "define_config", "serve"]
