"""In-process scenarios: what one piece costs as its input changes shape or size, run in this
process with no server (CPU time of the calls themselves, best of a few tries).

    .venv/bin/python bench/micro.py decoder     # the strict JSON decoder, 1 MiB of each shape
    .venv/bin/python bench/micro.py fanout      # WebSocket fan-out per change, by subscriptions
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import WSMsgType

from adapters.codec import strict_json
from adapters.http.websocket_hub import WebSocketHub
from adapters.http.ws_limits import WsLimits
from adapters.http.ws_protocol import Subscription
from adapters.http.ws_snapshot import Snapshot
from adapters.memory.notifier import InMemoryNotifier
from chiffon.events import TaskChanged
from chiffon.model import Task, TaskStatus

MIB = 1024 * 1024


def _filled(unit: str, size: int = MIB) -> str:
    """A JSON array of copies of `unit`, about `size` characters long."""
    return "[" + ",".join([unit] * max(1, size // (len(unit) + 1))) + "]"


def _nested(levels: int, key: str | None = None) -> str:
    if key is None:
        return "[" * levels + "]" * levels
    return f'{{"{key}":' * levels + "1" + "}" * levels


# name -> a document of about 1 MiB; the shapes an attacker would pick, and ordinary ones
SHAPES: dict[str, str] = {
    "one_string": json.dumps("x" * MIB),
    "short_strings": _filled('"ab"'),
    "integers": _filled("1"),
    "floats": _filled("1.5"),
    "big_integers": _filled("9223372036854775807"),  # takes the exact (hooked) decoder
    "empty_objects": _filled("{}"),
    "small_objects": _filled('{"a":1}'),
    "arrays_nested_62": _filled(_nested(61)),
    "objects_nested_62": _filled(_nested(61, "a")),
    "escapes": _filled('"\\\\u0000\\n"'),  # looks risky to the cheap screen, is valid
}


def cpu_ms(call: Callable[[], Any], tries: int = 5) -> float:
    """Best CPU time of `tries` calls, in ms (the result is freed outside the timing)."""
    best = float("inf")
    for _ in range(tries):
        start = time.process_time()
        kept = call()
        best = min(best, time.process_time() - start)
        del kept
    return round(best * 1000, 2)


def decoder(tries: int = 5) -> dict[str, Any]:
    """CPU ms per MiB of strict_json.loads for each shape, beside plain json.loads, and the
    spread (slowest shape / fastest shape) that says whether the cost is flat in shape."""
    shapes = {}
    for name, text in SHAPES.items():
        size_mib = len(text.encode()) / MIB
        strict = cpu_ms(lambda t=text: strict_json.loads(t), tries)  # type: ignore[misc]
        plain = cpu_ms(lambda t=text: json.loads(t), tries)  # type: ignore[misc]
        shapes[name] = {
            "strict_ms_per_mib": round(strict / size_mib, 2),
            "json_loads_ms_per_mib": round(plain / size_mib, 2),
        }
    per_mib = [s["strict_ms_per_mib"] for s in shapes.values()]
    return {"shapes": shapes, "worst_ms_per_mib": max(per_mib), "best_ms_per_mib": min(per_mib)}


class _Discard:
    """A WebSocket that takes every frame at once."""

    async def send_frame(
        self, message: bytes, opcode: WSMsgType, compress: int | None = None
    ) -> None:
        return None

    async def close(self, *, code: int, message: bytes) -> bool:
        return True


def _change(task_id: uuid.UUID, revision: int) -> TaskChanged:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    task = Task(
        task_id=task_id, request_id=task_id, trace_id=task_id, work_type="echo",
        agent_type="demo", priority=3, parameters={}, status=TaskStatus.RUNNING,
        created_at=now, updated_at=now + timedelta(seconds=revision), revision=revision,
    )  # fmt: skip
    return TaskChanged("progress", task)


async def _fanout_cost(subscriptions: int, changes: int) -> float:
    """CPU µs per change of one watched task, with `subscriptions` others on the server (100
    per connection, on tasks that never change), the change pushed to its one watcher."""
    big = 1 << 40
    limits = WsLimits(queue_frames=big, queue_bytes=big, total_bytes=big, max_connections=big)
    notifier = InMemoryNotifier()
    hub = WebSocketHub(notifier, limits)
    hub.start()
    for first in range(0, subscriptions, 100):
        conn = hub.connect(_Discard())
        for _ in range(min(100, subscriptions - first)):
            conn.begin(Subscription("task_id", uuid.uuid4()))
            conn.complete(Snapshot(()))
    watched = uuid.uuid4()
    watcher = hub.connect(_Discard())
    watcher.begin(Subscription("task_id", watched))
    watcher.complete(Snapshot(()))
    events = [_change(watched, revision) for revision in range(1, changes + 1)]
    start = time.process_time()
    for event in events:
        notifier.deliver(event)
    spent = time.process_time() - start
    await asyncio.gather(*(hub.disconnect(c) for c in hub.connections))
    return round(spent / changes * 1e6, 2)


def fanout(changes: int = 2000) -> dict[str, Any]:
    """CPU µs per change by the number of other subscriptions on the server, and the spread
    (most / fewest) that says whether the cost is flat in subscription count."""
    counts = (10, 100, 1000, 10_000)
    per_change = {n: min(asyncio.run(_fanout_cost(n, changes)) for _ in range(3)) for n in counts}
    return {
        "us_per_change": {str(n): us for n, us in per_change.items()},
        "spread": round(max(per_change.values()) / min(per_change.values()), 2),
    }


SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {"decoder": decoder, "fanout": fanout}


def main(argv: list[str]) -> int:
    names = argv or list(SCENARIOS)
    for name in names:
        print(name, json.dumps(SCENARIOS[name](), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
