"""Print or write the generated pages of the docs: the HTTP API, the CLI and the settings.

    .venv/bin/python scripts/gen_docs.py           print them
    .venv/bin/python scripts/gen_docs.py --write   write those that changed

Each page comes from a script beside this one that gives its ``PAGE`` and ``render()``; the
tests fail, naming this command, when a page is out of step with what it is made from.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
GENERATORS = ("gen_api_docs.py", "gen_cli_docs.py", "gen_settings_docs.py")


def pages() -> list[tuple[Path, str]]:
    """Each generated page and its text as it should be."""
    found: list[tuple[Path, str]] = []
    for name in GENERATORS:
        generator = runpy.run_path(str(HERE / name))
        page: Path = generator["PAGE"]
        render: Callable[[], str] = generator["render"]
        found.append((page, render()))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help="write the pages that changed")
    options = parser.parse_args(argv)
    for page, text in pages():
        if not options.write:
            sys.stdout.write(text)
        elif page.exists() and page.read_text("utf-8") == text:
            print(f"{page} is up to date")
        else:
            page.write_text(text, "utf-8")
            print(f"wrote {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
