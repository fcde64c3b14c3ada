"""Lets `python -m playingpack` run the CLI."""

from __future__ import annotations

from playingpack.cli import main

if __name__ == "__main__":
    main()
