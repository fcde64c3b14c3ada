"""Every module has its test file, named after it (tests/test_<module>.py)."""

from __future__ import annotations

from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "playingpack"
# Entry points and plain definitions, exercised through the modules that use them.
EXEMPT = {"__init__", "__main__", "errors", "settings", "providers/__init__"}


def test_each_module_has_a_test_file() -> None:
    tests = {path.stem.removeprefix("test_") for path in Path(__file__).parent.glob("test_*.py")}
    modules = {
        path.relative_to(SRC).with_suffix("").as_posix() for path in SRC.rglob("*.py")
    } - EXEMPT
    missing = sorted(module for module in modules if module.rpartition("/")[2] not in tests)
    assert missing == [], f"modules without tests/test_<module>.py: {missing}"
