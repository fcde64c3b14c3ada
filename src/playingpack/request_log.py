"""The request log: one terminal line and one JSON line per finished flow, the JSON lines
appended to one file per day in the logs folder."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import msgspec

if TYPE_CHECKING:
    from playingpack.flows import Flow

logger = logging.getLogger(__name__)


class RequestLog:
    """The JSON lines of finished flows, written to ``<logs_dir>/<day>.jsonl``."""

    def __init__(self, logs_dir: Path) -> None:
        self.logs_dir = logs_dir
        self._pending: list[tuple[str, bytes]] = []
        self._flush_scheduled = False
        self._file: BinaryIO | None = None
        self._day = ""

    def add(self, flow: Flow) -> None:
        """Write the line of the finished ``flow``: right after this turn of the event loop,
        or at once outside one."""
        record = log_record(flow)
        self._pending.append((record["started_at"][:10], msgspec.json.encode(record) + b"\n"))
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        # Written right after this turn of the loop: still within microseconds of the answer, but
        # under load the flows finished in one turn share a write (a write per flow cost more
        # than the rest of a replay).
        self._flush_scheduled = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Append the pending lines, one write per day file; a folder that cannot be written
        is a warning."""
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        try:
            for day, group in itertools.groupby(pending, key=lambda entry: entry[0]):
                self._file_for(day).write(b"".join(line for _, line in group))
        except OSError as exc:
            logger.warning("could not write the request log in %s: %s", self.logs_dir, exc)

    def close(self) -> None:
        """Write what is pending and close the file (reopened by the next line)."""
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None

    def _file_for(self, day: str) -> BinaryIO:
        if self._file is None or day != self._day:
            if self._file is not None:
                self._file.close()
            self.logs_dir.mkdir(parents=True, exist_ok=True)
            # Unbuffered: each flush is one write(2) of whole lines, so lines never interleave
            # with another process appending to the same file.
            self._file = (self.logs_dir / f"{day}.jsonl").open("ab", buffering=0)
            self._day = day
        return self._file


def log_record(flow: Flow) -> dict[str, Any]:
    """The flow as one JSON line of the logs folder: no headers, no bodies."""
    summary = flow.summary
    return {
        "id": flow.id,
        "started_at": flow.started_at,
        "method": flow.method,
        "path": flow.path,
        "model": flow.model,
        "state": flow.state,
        "source": flow.source,
        "status": flow.status,
        "duration_ms": flow.duration_ms,
        "tape": flow.key,
        "usage": (
            {
                "input_tokens": summary.usage.input_tokens,
                "output_tokens": summary.usage.output_tokens,
            }
            if summary and summary.usage
            else None
        ),
        "tool_calls": [call.name for call in summary.tool_calls] if summary else [],
        "decision": flow.decision,
        "error": flow.error,
    }


def format_line(flow: Flow) -> str:
    """The terminal line of a finished flow."""
    line = (
        f"{_clock(int(time.time()))}  {flow.status if flow.status is not None else '---'}  "
        f"{flow.source.value if flow.source else '-':<8}  {flow.method} {flow.path}  "
        f"{flow.model or '-'}"
    )
    if flow.duration_ms is not None:
        line += f"  {flow.duration_ms:.0f} ms"
    summary = flow.summary
    if summary is not None:
        if summary.usage is not None:
            line += f"  {summary.usage.input_tokens}+{summary.usage.output_tokens} tok"
        if summary.tool_calls:
            line += "  tools: " + ",".join(call.name for call in summary.tool_calls)
    if flow.decision:
        line += f"  held: {flow.decision}"
    if flow.key:
        line += f"  tape {flow.key[:8]}"
    if flow.error:
        line += f"  error: {flow.error}"
    return line


@functools.lru_cache(maxsize=4)
def _clock(second: int) -> str:
    # Lines of the same second share the formatting, as flows.iso_time does.
    return time.strftime("%H:%M:%S", time.localtime(second))
