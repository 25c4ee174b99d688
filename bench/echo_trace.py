"""Where one echo task's time goes, hop by hop, on PostgreSQL + RabbitMQ: `chiffon serve` and
one `chiffon agent` run with bench/trace_hooks on their PYTHONPATH (wall-clock stamps at each
hop, comparable across the two processes), the bench's sequential echo client drives them
(dispatch, then wait for `completed` on the WebSocket), and the stamps are matched per task.

    .venv/bin/python bench/echo_trace.py [tasks]     # default 300 (after 30 warm-up)

Prints the median and p90 of each hop in milliseconds. The hooks cost a few microseconds per
hop; compare runs of one machine, not with bench/run_all.py's figures."""

from __future__ import annotations

import asyncio
import bisect
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from scenarios import chiffon_stack, e2e_latency

HOOKS = Path(__file__).resolve().parent / "trace_hooks"
# (name, from stamp, to stamp): each a label of trace_hooks, per task.
HOPS = [
    ("dispatch: commit, answer, until the relay runs", "commit>", "relay>"),
    ("relay: encode and write to the broker", "relay>", "amqp_write"),
    ("broker: orchestrator socket to agent", "amqp_write", "agent_delivery>"),
    ("agent: delivery to handler start", "agent_delivery>", "handler>"),
    ("agent: the handler", "handler>", "handler<"),
    ("agent: handler end to result published", "handler<", "agent_publish>WorkResult"),
    (
        "agent: `running` published to received",
        "agent_publish>StatusUpdate",
        "received>StatusUpdate",
    ),
    (
        "broker: result to the orchestrator's socket",
        "agent_publish>WorkResult",
        "orchestrator_delivery>",
    ),
    ("orchestrator: delivery to the tracker", "orchestrator_delivery>", "received>WorkResult"),
    ("orchestrator: result to its write", "received>WorkResult", "report_sql>"),
    ("orchestrator: the write (SQL round trip)", "report_sql>", "report_sql<"),
    ("orchestrator: written to pushed", "report_sql<", "push:completed"),
    ("orchestrator: result to pushed", "received>WorkResult", "push:completed"),
    ("in all: commit to pushed", "commit>", "push:completed"),
]


def _read(directory: Path) -> list[list[tuple[int, str, str]]]:
    processes = []
    for path in directory.glob("out-*.tsv"):
        rows = [line.rstrip("\n").split("\t") for line in path.read_text().splitlines()]
        processes.append([(int(t), label, key) for t, label, key in rows])
    return processes


def _stamps(processes: list[list[tuple[int, str, str]]]) -> dict[str, dict[str, int]]:
    """Per task, the first stamp of each label; socket writes and deliveries, which carry no
    task, are matched to the first one after the hop before them."""
    tasks: dict[str, dict[str, int]] = defaultdict(dict)
    unkeyed: dict[str, list[int]] = defaultdict(list)
    for rows in processes:
        for t, label, key in rows:
            if not key:
                unkeyed[label].append(t)
                continue
            for part in key.split(","):
                kind, _, task_id = part.rpartition(":")
                tasks[task_id].setdefault(label + kind, t)
    for times in unkeyed.values():
        times.sort()
    for stamps in tasks.values():
        for label, after in (
            ("amqp_write", "relay>"),
            ("agent_delivery>", "amqp_write"),
            ("orchestrator_delivery>", "agent_publish>WorkResult"),
        ):
            times = unkeyed.get(label, [])
            if after in stamps and (i := bisect.bisect_left(times, stamps[after])) < len(times):
                stamps[label] = times[i]
    return tasks


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with tempfile.TemporaryDirectory() as directory:
        env = {"PYTHONPATH": str(HOOKS), "CHIFFON_TRACE_DIR": directory}
        with chiffon_stack("echo-trace", real=True, agents=1, extra_env=env) as stack:
            latencies = asyncio.run(e2e_latency(stack.url, count, 30, "ws"))
        tasks = _stamps(_read(Path(directory)))
    print(f"{len(latencies)} echo tasks; client dispatch -> completed seen on the WebSocket:")
    print(f"  p50 {statistics.median(latencies):.2f} ms\n")
    joint = sum("joint_write>" in s for s in tasks.values() if "commit>" in s)
    print(f"  `running` and result in one write: {joint} of {len(latencies)}\n")
    print(f"{'hop':50s} {'median ms':>10s} {'p90 ms':>8s} {'tasks':>6s}")
    for name, start, end in HOPS:
        spans = sorted((s[end] - s[start]) / 1e6 for s in tasks.values() if start in s and end in s)
        if spans:
            p90 = spans[int(len(spans) * 0.9)]
            print(f"{name:50s} {statistics.median(spans):10.3f} {p90:8.3f} {len(spans):6d}")


if __name__ == "__main__":
    main()
