"""The client verbs' command line: their arguments, added to the `chiffon` parser.

Light on purpose (argparse only): `chiffon --version` and the parse of every verb load nothing
else; the verbs themselves (cli.run) load the HTTP client."""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from adapters.cli.client.address import DEFAULT_URL

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

# The verbs add_verbs adds (tests/unit/test_cli_imports.py checks them against the runners).
VERBS: Final = frozenset(
    {"dispatch", "status", "tasks", "agents", "cancel", "rerun", "audit", "schedule", "watch"}
)


def add_verbs(top: argparse.ArgumentParser, verbs: Subparsers) -> None:
    """Add `--version` and the client verbs to the `chiffon` command's parser."""
    top.add_argument("--version", action=_Version, help="print the version and exit")
    p = _verb(verbs, "dispatch", "dispatch a unit of work (prints its task id)")
    p.add_argument("work_type", help="what to do, e.g. echo, sleep, fail")
    p.add_argument("pairs", nargs="*", metavar="key=value", help="a parameter (JSON if it parses)")
    p.add_argument("--params", metavar="JSON", help="parameters as a JSON object, or @file.json")
    p.add_argument(
        "--priority", type=int, metavar="N", help="1 (background) .. 5 (critical), default 3"
    )
    p.add_argument(
        "--timeout", dest="timeout_s", type=float, metavar="S", help="seconds until timed_out"
    )
    p.add_argument(
        "--trace-id",
        "--trace",
        dest="trace_id",
        metavar="ID",
        help="correlation id (UUID) for the task, its events and every log line about it",
    )
    p.add_argument(
        "--id", dest="task_id", metavar="UUID", help="the task id (UUID; default: a new one)"
    )
    p.add_argument("--wait", action="store_true", help="follow it live, print its result")
    p.add_argument(
        "--attempts", dest="max_attempts", type=int, metavar="N", help="at most N attempts (1..20)"
    )
    p.add_argument(
        "--retry-on",
        dest="retry_on",
        metavar="ENDS",
        help="which ends get another attempt: lost,failed,timed_out (default lost)",
    )
    p.add_argument(
        "--backoff", dest="backoff_s", type=float, metavar="S", help="wait before a retry, doubling"
    )
    p.add_argument(
        "--backoff-max", dest="backoff_max_s", type=float, metavar="S", help="longest wait"
    )
    when = p.add_mutually_exclusive_group()
    when.add_argument("--delay", dest="delay_s", type=float, metavar="S", help="start S from now")
    when.add_argument("--at", dest="not_before", metavar="TIME", help="start at (ISO 8601)")
    p.add_argument(
        "--reject-if-no-agent",
        dest="reject",
        action="store_true",
        help="refuse it (409) when no agent of its type is alive",
    )
    _concurrency_options(p)
    _gather_pairs(p)
    _verb(verbs, "status", "one task's state").add_argument("task_id", metavar="ID")
    p = _verb(verbs, "tasks", "list tasks, newest first")
    p.add_argument(
        "--status", metavar="S", help="pending, running, completed, failed, cancelled, timed_out"
    )
    p.add_argument("--work-type", dest="work_type", metavar="W")
    p.add_argument("--agent-type", dest="agent_type", metavar="T")
    p.add_argument("--trace", dest="trace_id", metavar="ID", help="only the tasks of this trace")
    p.add_argument(
        "--waiting",
        dest="waiting_reason",
        metavar="WHY",
        help="pending tasks waiting for: scheduled, retry_backoff, no_agent, agents_busy, "
        "queued, concurrency_limit",
    )
    p.add_argument(
        "--limit", type=int, default=50, metavar="N", help="at most this many (default 50)"
    )
    _search_options(p)
    p = _verb(verbs, "agents", "the agents, their load and resources")
    p.add_argument("--type", dest="agent_type", metavar="T", help="only agents of this type")
    p.add_argument("--status", metavar="S", help="online, busy or offline")
    p = _verb(verbs, "cancel", "cancel a pending or running task, or every task a filter finds")
    p.add_argument("task_id", metavar="ID", nargs="?", help="the task (or give filters)")
    p.add_argument("--status", metavar="S", help="pending or running")
    p.add_argument("--work-type", dest="work_type", metavar="W")
    p.add_argument("--agent-type", dest="agent_type", metavar="T")
    p.add_argument("--trace", dest="trace_id", metavar="ID", help="the tasks of this trace")
    p.add_argument("--waiting", dest="waiting_reason", metavar="WHY", help="as for `tasks`")
    _search_options(p)
    p.add_argument("--yes", "-y", action="store_true", help="do not ask before cancelling")
    p = _verb(verbs, "rerun", "run a finished task's work again as a new task")
    p.add_argument("task_id", metavar="ID")
    p.add_argument("--wait", action="store_true", help="follow the new task, print its result")
    p = _verb(verbs, "audit", "check the tasks' histories: one line per violation, exit 1 if any")
    p.add_argument(
        "--since", metavar="WHEN", help="tasks created since: 15m, 2h, 3d ago, or an ISO 8601 time"
    )
    p.add_argument("--trace", dest="trace_id", metavar="ID", help="only the tasks of this trace")
    p.add_argument(
        "--settled", action="store_true", help="every task must have ended (a run that is over)"
    )
    _schedule_verbs(_verb(verbs, "schedule", "recurring work: add, list, show, pause, ..."))
    p = _verb(verbs, "watch", "print every change live, until Ctrl-C (default: all tasks)")
    one = p.add_mutually_exclusive_group()
    one.add_argument("--task", dest="task_id", metavar="ID", help="only this task")
    one.add_argument("--trace", dest="trace_id", metavar="ID", help="only the tasks of this trace")


def _concurrency_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--concurrency-key",
        dest="concurrency_key",
        metavar="KEY",
        help="at most --max-running tasks with this key run at once (e.g. a database)",
    )
    p.add_argument(
        "--max-running", dest="max_running", type=int, metavar="N", help="for the key (default 1)"
    )


def _schedule_verbs(top: argparse.ArgumentParser) -> None:
    actions = top.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = _verb(actions, "add", "create a schedule (prints its id)")
    p.add_argument("work_type", help="what to do, e.g. echo")
    p.add_argument("pairs", nargs="*", metavar="key=value", help="a parameter (JSON if it parses)")
    p.add_argument("--params", metavar="JSON", help="parameters as a JSON object, or @file.json")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--cron", metavar="EXPR", help="five fields, e.g. '0 3 * * *', or @daily")
    when.add_argument("--every", type=float, metavar="S", help="every S seconds")
    p.add_argument("--tz", metavar="ZONE", help="the cron's time zone (default UTC)")
    p.add_argument("--priority", type=int, metavar="N", help="1 .. 5, default 3")
    p.add_argument("--timeout", dest="timeout_s", type=float, metavar="S")
    p.add_argument("--attempts", dest="max_attempts", type=int, metavar="N")
    p.add_argument("--overlap", metavar="P", help="skip, buffer_one, allow_all, cancel_previous")
    p.add_argument(
        "--catch-up", dest="catch_up", metavar="P", help="skip_missed, run_once, run_all"
    )
    p.add_argument("--window", dest="window_s", type=float, metavar="S", help="run_all's window")
    p.add_argument("--max-runs", dest="max_runs", type=int, metavar="N")
    p.add_argument("--until", metavar="TIME", help="no fire after this (ISO 8601 with offset)")
    p.add_argument("--note", metavar="TEXT")
    p.add_argument("--paused", action="store_true", help="create it paused")
    _concurrency_options(p)
    _gather_pairs(p)
    _verb(actions, "list", "every schedule, one line each")
    for action, what in (
        ("show", "a schedule, its next fire times and last runs"),
        ("pause", "pause a schedule"),
        ("resume", "resume a schedule from its next time"),
        ("rm", "delete a schedule (its tasks stay)"),
        ("trigger", "fire a schedule now (prints the task id)"),
    ):
        _verb(actions, action, what).add_argument("schedule_id", metavar="ID")


def _search_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--id", dest="id_prefix", metavar="PREFIX", help="task id starts with")
    p.add_argument("--agent", dest="agent_id", metavar="ID", help="tasks this agent ran")
    p.add_argument(
        "--key", dest="concurrency_key", metavar="KEY", help="tasks of this concurrency key"
    )
    p.add_argument(
        "--search",
        "-q",
        dest="text",
        metavar="TEXT",
        help="text in the parameters, result or error (any case)",
    )
    p.add_argument(
        "--since", metavar="WHEN", help="created since: 15m, 2h, 3d ago, or an ISO 8601 time"
    )
    p.add_argument("--before", metavar="WHEN", help="created before: same forms as --since")


def _gather_pairs(p: argparse.ArgumentParser) -> None:
    """argparse takes positionals in one run, so a key=value after an option (`dispatch sleep
    --wait seconds=5`) would be "unrecognized": gather those into `pairs` too."""
    parse = p.parse_known_args

    def parse_known_args(
        args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        ns, extras = parse(args, namespace)
        ns.pairs = [*ns.pairs, *(a for a in extras if not a.startswith("-"))]
        return ns, [a for a in extras if a.startswith("-")]

    p.parse_known_args = parse_known_args  # type: ignore[method-assign,assignment]


def _verb(verbs: Subparsers, name: str, help: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = verbs.add_parser(name, help=help, description=help)
    p.add_argument("--json", action="store_true", help="print the API's JSON (for scripts)")
    p.add_argument("--url", help=f"the chiffon server (CHIFFON_URL, default {DEFAULT_URL})")
    p.add_argument("--token", help="API bearer token (CHIFFON_API_TOKEN)")
    return p


class _Version(argparse.Action):
    """--version, reading the version only when asked (importlib.metadata is slow to load)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"chiffon {package_version()}")  # on stdout, as argparse's own version action
        parser.exit()


def package_version() -> str:
    """The installed package's version, else the one in pyproject.toml (a source checkout)."""
    import importlib.metadata

    try:
        return importlib.metadata.version("chiffon")
    except importlib.metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[3] / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text())["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"
