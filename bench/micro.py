"""In-process scenarios: what one piece costs as its input changes shape or size, run in this
process with no server (CPU time of the calls themselves, best of a few tries).

    .venv/bin/python bench/micro.py decoder     # the strict JSON decoder, 1 MiB of each shape
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from adapters.codec import strict_json

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


SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {"decoder": decoder}


def main(argv: list[str]) -> int:
    names = argv or list(SCENARIOS)
    for name in names:
        print(name, json.dumps(SCENARIOS[name](), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
