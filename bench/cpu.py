"""CPU accounting for the bursts: user + system seconds per process group over a window, and
per completed task.

    before = snapshot({"orchestrator": [pid], "agents": [pid, pid]}, database="bench_db")
    ... the burst ...
    report = account(before, snapshot(...same groups...), completed=10_000)

What is counted, and how (Linux, via psutil, i.e. /proc/<pid>/stat utime + stime):
- our own processes, by pid: the process, its reaped children (cutime + cstime) and its live
  descendants (Celery's prefork pool processes are children of its worker), except a
  descendant that is itself named in a group (a driver's agents, run_all's servers);
- `postgresql`: every process named `postgres` (the postmaster with its reaped backends, the
  server's own processes, every live backend): other users' sessions on this machine count too;
- `postgresql_own` (reported beside, not in the total): only the backends of the bench's
  database (its name is in the backend's process title) plus the server's own processes (the
  postmaster's own time, checkpointer, writers, launchers); a backend that exits inside the
  window is missed;
- `rabbitmq`: the `beam.smp` process (one broker for every vhost, so other users count too);
- the machine's busy time (/proc/stat: user, nice, system, irq, softirq), so what ran outside
  the groups (other users, the load client) shows as `outside_groups_cpu_s`.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

# Groups that make up the system under test, in table order; others (a load client) are
# reported but not added to the total.
SYSTEM = ("orchestrator", "agents", "postgresql", "rabbitmq")
SERVER_TITLES = (
    "checkpointer",
    "background writer",
    "walwriter",
    "autovacuum launcher",
    "logical replication launcher",
    "archiver",
    "stats collector",
)


@dataclass(frozen=True)
class Snapshot:
    at: float
    groups: dict[str, dict[int, float]]  # group -> pid -> CPU s (with its family)
    postgresql: float
    postgresql_own: dict[tuple[int, float], float]  # (pid, create time) -> own CPU s
    rabbitmq: float
    machine_busy: float


def _own(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def _with_reaped(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system + t.children_user + t.children_system)


def _family(pid: int, skip: set[int]) -> float:
    """The process, its reaped children and its live descendants not in `skip`."""
    total = 0.0
    try:
        todo = [psutil.Process(pid)]
    except psutil.NoSuchProcess:  # gone: its time went to its parent's reaped children
        return 0.0
    while todo:
        proc = todo.pop()
        with contextlib.suppress(psutil.NoSuchProcess):
            total += _with_reaped(proc)
            todo.extend(c for c in proc.children() if c.pid not in skip)
    return total


def family_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process, its reaped children and its live descendants."""
    return _family(pid, set())


def _named(name: str) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name", "cmdline", "ppid"]) if p.info["name"] == name]


def _is_own_postgres(proc: psutil.Process, postmasters: set[int], database: str | None) -> bool:
    title = " ".join(proc.info["cmdline"] or []) + " "
    if proc.pid in postmasters:
        return True
    if any(f": {t}" in title for t in SERVER_TITLES):
        return True
    return database is not None and f" {database} " in title


def snapshot(
    groups: Mapping[str, Sequence[int]],
    database: str | None = None,
    exclude: Collection[int] = (),
) -> Snapshot:
    """CPU seconds used so far by each group, PostgreSQL, RabbitMQ and the whole machine;
    `exclude`: PostgreSQL backends of the measurement itself (a poller), left out; keep them
    connected until the last snapshot (a closed backend's time goes to the postmaster's)."""
    named = {pid for pids in groups.values() for pid in pids}
    ours = {g: {pid: _family(pid, named - {pid}) for pid in pids} for g, pids in groups.items()}
    pg_all = 0.0
    pg_own: dict[tuple[int, float], float] = {}
    postgres = _named("postgres")
    pids = {p.pid for p in postgres}
    postmasters = {p.pid for p in postgres if p.info["ppid"] not in pids}
    for proc in postgres:
        if proc.pid in exclude:
            continue
        with contextlib.suppress(psutil.Error):
            pg_all += _with_reaped(proc)
            if _is_own_postgres(proc, postmasters, database):
                pg_own[(proc.pid, proc.create_time())] = _own(proc)
    rabbit = 0.0
    for proc in _named("beam.smp"):
        with contextlib.suppress(psutil.Error):
            rabbit += _with_reaped(proc)
    m = psutil.cpu_times()
    busy = m.user + m.nice + m.system + getattr(m, "irq", 0.0) + getattr(m, "softirq", 0.0)
    return Snapshot(time.monotonic(), ours, pg_all, pg_own, rabbit, float(busy))


def _entry(cpu_s: float, completed: int) -> dict[str, float]:
    per_task = 1000 * cpu_s / completed if completed else float("nan")
    return {"cpu_s": round(cpu_s, 2), "ms_per_task": round(per_task, 3)}


def account(before: Snapshot, after: Snapshot, completed: int) -> dict[str, Any]:
    """Deltas over the window: per group (and per process), the total of the system's
    groups, and what the rest of the machine used meanwhile."""
    groups: dict[str, Any] = {}
    for g, pids in after.groups.items():
        per_pid = {pid: cpu - before.groups[g].get(pid, 0.0) for pid, cpu in pids.items()}
        groups[g] = _entry(sum(per_pid.values()), completed)
        if len(per_pid) > 1:
            groups[g]["processes"] = {str(p): round(c, 2) for p, c in per_pid.items()}
    groups["postgresql"] = _entry(after.postgresql - before.postgresql, completed)
    groups["rabbitmq"] = _entry(after.rabbitmq - before.rabbitmq, completed)
    own = sum(c - before.postgresql_own.get(k, 0.0) for k, c in after.postgresql_own.items())
    exited = len(before.postgresql_own.keys() - after.postgresql_own.keys())
    total = sum(groups[g]["cpu_s"] for g in SYSTEM if g in groups)
    attributed = total - groups["postgresql"]["cpu_s"] + own
    counted = sum(v["cpu_s"] for v in groups.values())
    machine = after.machine_busy - before.machine_busy
    return {
        "window_s": round(after.at - before.at, 2),
        "completed": completed,
        "groups": groups,
        "total": _entry(total, completed),
        "postgresql_own": _entry(own, completed),
        "postgresql_own_exited": exited,  # their time inside the window is missing from it
        "total_pg_attributed": _entry(attributed, completed),
        "machine_busy": _entry(machine, completed),
        "outside_groups_cpu_s": round(machine - counted, 2),
    }


# -- across runs, and the table run_all.py prints ---------------------------------------------

ROWS = (  # key in the JSON, label in the table, where it is in account()'s report
    ("orchestrator", "orchestrator or client", ("groups", "orchestrator")),
    ("agents", "agents or workers", ("groups", "agents")),
    ("postgresql", "PostgreSQL (every postgres process)", ("groups", "postgresql")),
    ("rabbitmq", "RabbitMQ (beam.smp)", ("groups", "rabbitmq")),
    ("total", "total", ("total",)),
    ("postgresql_own", "  PostgreSQL: this bench's backends + server only", ("postgresql_own",)),
    ("total_pg_attributed", "  total with that PostgreSQL figure", ("total_pg_attributed",)),
    ("load_client", "  load client (not in the total)", ("groups", "load_client")),
    ("machine_busy", "  machine busy, every process", ("machine_busy",)),
)


def _get(cpu: Mapping[str, Any], path: Sequence[str]) -> dict[str, Any] | None:
    node: Any = cpu
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, dict) else None


def median_cpu(runs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Per row of the table, the median over the runs of CPU s and of ms per task (medians of
    the parts need not add up to the median total); `agents_each`: ms per task of each agent
    process (medians, in pid order)."""
    cpus = [r["cpu"] for r in runs if r.get("cpu")]
    out: dict[str, Any] = {}
    for key, _, path in ROWS:
        entries = [e for e in (_get(c, path) for c in cpus) if e]
        if entries:
            out[key] = {
                k: round(statistics.median(e[k] for e in entries), 3)
                for k in ("cpu_s", "ms_per_task")
            }
    each = [
        [1000 * v / c["completed"] for _, v in sorted(procs.items(), key=lambda kv: int(kv[0]))]
        for c in cpus
        if c["completed"] and (procs := c["groups"].get("agents", {}).get("processes"))
    ]
    if each and all(len(e) == len(each[0]) for e in each):
        out["agents_each"] = [round(statistics.median(col), 3) for col in zip(*each, strict=True)]
    return out


def cpu_table(columns: Mapping[str, Mapping[str, Any] | None]) -> str:
    """Markdown table: one row per process group, one column per system (ms per completed
    task, with the CPU seconds of the burst in brackets)."""
    names = list(columns)
    lines = [
        "| CPU per completed task (ms) | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for key, label, _ in ROWS:
        cells = []
        for n in names:
            e = (columns[n] or {}).get(key)
            cells.append(f"{e['ms_per_task']:.2f} ({e['cpu_s']:.1f} s)" if e else "-")
        if any(c != "-" for c in cells):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        if key == "agents":
            each = [(columns[n] or {}).get("agents_each") for n in names]
            cells = [" + ".join(f"{v:.2f}" for v in e) if e else "-" for e in each]
            lines.append("|   each process | " + " | ".join(cells) + " |")
    return "\n".join(lines)
