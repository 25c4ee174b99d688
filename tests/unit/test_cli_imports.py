"""Client verbs load the HTTP client and nothing of the server, so they start fast; the
composition root is the one module that knows every adapter (docs/architecture.md).

Checked on the import graph (what a real `chiffon` run loaded), not on the clock."""

from __future__ import annotations

import ast
import json
import socket
import subprocess
import sys
from pathlib import Path

from adapters.cli.client import arguments
from adapters.cli.client import cli as client

ROOT = Path(__file__).resolve().parents[2]
SERVER_SIDE = (
    "composition_root",
    "adapters.http",
    "adapters.memory",
    "adapters.postgres",
    "adapters.amqp",
    "adapters.cli.serve",
    "adapters.cli.workers",
    "chiffon.orchestrator",
    "aiohttp",
    "marshmallow",
    "asyncpg",
    "aiormq",
    "punq",
    "cattrs",
)


def loaded_by(*argv: str) -> set[str]:
    """The modules a `chiffon <argv>` process had loaded when it ended."""
    probe = (
        "import json, sys\n"
        "from adapters.cli.main import main\n"
        "try:\n"
        f"    main({list(argv)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def of(modules: set[str], *roots: str) -> set[str]:
    return {m for m in modules if any(m == r or m.startswith(f"{r}.") for r in roots)}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_version_loads_neither_the_client_nor_the_server() -> None:
    modules = loaded_by("--version")
    assert of(modules, *SERVER_SIDE) == set()
    assert of(modules, "asyncio", "rich", "adapters.cli.client.api") == set()


def test_status_loads_the_http_client_and_nothing_of_the_server() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    modules = loaded_by("status", "0f0e0d0c-0b0a-0908-0706-050403020100", "--url", url)
    assert "adapters.cli.client.api" in modules  # it did get as far as calling the server
    assert of(modules, *SERVER_SIDE) == set()


def test_every_verb_the_parser_adds_has_a_runner() -> None:
    assert set(client.VERB_RUNNERS) == arguments.VERBS


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_composition_root_knows_every_adapter_and_is_driven_by_the_command_line() -> None:
    wired = imports_of(ROOT / "composition_root.py")
    for adapter in ("memory", "http", "postgres", "amqp", "system"):
        assert of(wired, f"adapters.{adapter}"), adapter
    # The command line drives the composition root, never the other way round.
    assert of(wired, "adapters.cli.main", "adapters.cli.serve", "adapters.cli.workers") == set()
    assert of(wired, "adapters.cli.client") == set()
    users = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "adapters").rglob("*.py")
        if "composition_root" in imports_of(path)
    }
    assert users == {"adapters/cli/main.py", "adapters/cli/serve.py", "adapters/cli/workers.py"}
