"""Driving adapter: the `chiffon` command line (parses words into a verb and overrides)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

import attrs

# Adds more verbs (the client's) to the parser: called with the top parser and its subparsers.
Extension = Callable[[argparse.ArgumentParser, Any], None]


@attrs.frozen
class Command:
    verb: str
    overrides: dict[str, Any]


def parser(extend: Extension | None = None) -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="chiffon",
        description="Dispatch units of work to typed agents and track them to the end. "
        "Every flag also has a CHIFFON_* environment variable.",
    )
    verbs = top.add_subparsers(dest="verb", required=True)
    serve = verbs.add_parser("serve", help="run the orchestrator (in memory unless URLs are set)")
    _common(serve)
    serve.add_argument("--host", help="listen address (CHIFFON_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (CHIFFON_PORT, default 8080)")
    serve.add_argument("--routes", help="extra routes work_type=agent_type,... (CHIFFON_ROUTES)")
    serve.add_argument(
        "--handlers",
        help="memory mode: the in-process agent's handlers, module[:object] of a "
        "HandlerRegistry, comma-separated; `demo` for the built-in ones (CHIFFON_HANDLERS)",
    )
    serve.add_argument(
        "--insecure",
        action="store_true",
        default=None,
        help="allow listening beyond this machine without CHIFFON_API_TOKEN (CHIFFON_INSECURE)",
    )
    serve.add_argument(
        "--no-demo-agent",
        dest="demo_agent",
        action="store_false",
        default=None,
        help="in memory mode, do not start the in-process demo agent",
    )
    serve.add_argument(
        "--workers",
        type=int,
        help="processes serving the port, each a replica; needs PostgreSQL and RabbitMQ "
        "(CHIFFON_WORKERS, default 1)",
    )
    # Set by `serve --workers N` for the processes it starts, never by people.
    serve.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)
    serve.add_argument(
        "--no-migrate",
        dest="auto_migrate",
        action="store_false",
        default=None,
        help="do not apply pending migrations at start (CHIFFON_AUTO_MIGRATE=false)",
    )
    agent = verbs.add_parser("agent", help="run an agent process (needs CHIFFON_AMQP_URL)")
    _common(agent)
    agent.add_argument("--type", dest="agent_type", help="agent type (CHIFFON_AGENT_TYPE, demo)")
    agent.add_argument("--concurrency", type=int, help="tasks at once (CHIFFON_CONCURRENCY, 1)")
    agent.add_argument(
        "--handlers",
        help="module[:object] of a HandlerRegistry, comma-separated "
        "(CHIFFON_HANDLERS, default: the demo handlers)",
    )
    agent.add_argument("--agent-id", help="stable agent id (CHIFFON_AGENT_ID, default: random)")
    migrate = verbs.add_parser("migrate", help="apply pending PostgreSQL migrations")
    _common(migrate)
    simulate = verbs.add_parser(
        "simulate",
        help="run a seeded, faulty in-memory world on virtual time and check its history "
        "(exit 1 on any violation; see docs/reliability.md)",
    )
    simulate.add_argument("--seed", type=int, help="the run's seed (default: a random one)")
    simulate.add_argument("--tasks", type=int, help="tasks to dispatch (default 2000)")
    simulate.add_argument("--agents", type=int, help="agents at once (default 4)")
    simulate.add_argument(
        "--no-faults",
        dest="faults",
        action="store_false",
        default=None,
        help="the same workload without any fault",
    )
    if extend is not None:
        extend(top, verbs)
    return top


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database-url", help="PostgreSQL DSN (CHIFFON_DATABASE_URL)")
    p.add_argument("--amqp-url", help="RabbitMQ URL (CHIFFON_AMQP_URL)")
    p.add_argument(
        "--heartbeat-interval",
        dest="heartbeat_interval_s",
        type=float,
        help="seconds between agent heartbeats (CHIFFON_HEARTBEAT_INTERVAL_S, 2); an agent "
        "silent for CHIFFON_MISSED_HEARTBEATS (3) intervals is lost",
    )
    p.add_argument("--log-format", choices=["text", "json"], help="CHIFFON_LOG_FORMAT")


def parse(argv: Sequence[str], extend: Extension | None = None) -> Command:
    args = vars(parser(extend).parse_args(list(argv)))
    verb = args.pop("verb")
    return Command(verb, {k: v for k, v in args.items() if v is not None})
