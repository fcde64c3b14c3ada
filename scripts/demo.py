"""A playingpack with traffic, for working on the dashboard and taking its screenshots.

Starts the test suite's fake OpenAI upstream and a real playingpack on ``--port`` (tapes and
logs in a temporary folder), then keeps sending a mix of calls through the ``openai`` SDK:
streamed text, streamed and plain tool calls, the Responses API, and repeats that replay from
tapes. Open the printed URL; Ctrl-C stops everything.

    .venv/bin/python scripts/demo.py --pause tool-calls
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import threading
from pathlib import Path

import openai
from openai.types.chat import (
    ChatCompletionMessageParam,
    ChatCompletionStreamOptionsParam,
    ChatCompletionToolParam,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.openai_upstream import FakeUpstream, Reply
from tests.fakes.threaded import LoopThread

from playingpack.app import start_server
from playingpack.config import Config, PauseMode

WEATHER_TOOL: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
}
USAGE: ChatCompletionStreamOptionsParam = {"include_usage": True}
CITIES = ["Paris", "Lyon", "Oslo", "Lisbon", "Kyoto"]


def send(client: openai.OpenAI, upstream: FakeUpstream, turn: int) -> None:
    """One call of the mix; every fifth turn repeats the first request (a tape replay)."""
    replay = turn % 5 == 4
    city = CITIES[0] if replay else CITIES[turn % len(CITIES)]
    kind = 0 if replay else turn % 4
    question = f"What should I pack for {city} this week?"
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "You are a concise travel assistant."},
        {"role": "user", "content": question},
    ]
    if kind == 0:
        if not replay:
            upstream.queue(
                Reply(
                    content=f"For {city}: a light jacket, comfortable shoes and an umbrella. "
                    "Evenings can be cool, so bring a warm layer too.",
                    delay=0.05,
                )
            )
        for _ in client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=True, stream_options=USAGE
        ):
            pass
    elif kind == 1:
        upstream.queue(
            Reply(content=None, tool_calls=[("get_weather", f'{{"city": "{city}", "unit": "c"}}')])
        )
        for _ in client.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            tools=[WEATHER_TOOL],
            stream=True,
            stream_options=USAGE,
        ):
            pass
    elif kind == 2:
        upstream.queue(Reply(content=f"{city} is lovely in spring."))
        client.chat.completions.create(model="gpt-4o", messages=messages)
    else:
        upstream.queue(Reply(content=f"Pack layers for {city}.", delay=0.03))
        with client.responses.stream(model="gpt-4.1-mini", input=question) as s:
            for _ in s:
                pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=4747)
    parser.add_argument("--pause", choices=[mode.value for mode in PauseMode], default="off")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between calls")
    parser.add_argument("--calls", type=int, default=0, help="stop sending after N (0: never)")
    options = parser.parse_args()

    upstream = FakeUpstream()
    folder = Path(tempfile.mkdtemp(prefix="playingpack-demo-"))
    config = Config(
        upstream=f"{upstream.url}/v1",
        tapes_dir=folder / "tapes",
        logs_dir=folder / "logs",
        port=options.port,
        pause=PauseMode(options.pause),
        token="demo",
    )
    thread = LoopThread("playingpack")
    server = thread.run(start_server(config))
    print(f"dashboard: {server.url}/?token=demo   tapes: {config.tapes_dir}", flush=True)
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-demo", max_retries=0)

    stop = threading.Event()
    turns = itertools.count() if options.calls == 0 else iter(range(options.calls))
    try:
        for turn in turns:
            threading.Thread(target=send, args=(client, upstream, turn), daemon=True).start()
            if stop.wait(options.every):
                break
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        thread.close(server.runner.cleanup)
        upstream.close()


if __name__ == "__main__":
    main()
