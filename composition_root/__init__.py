"""Composition root: settings -> punq container -> running orchestrator or agent.

The only package that knows every adapter. Nothing else reads the environment or the
container. `settings` reads and checks configuration, `wiring` builds the object graph,
`startup` opens the store, bus and socket, `runners` runs the verbs, `main` is the command.
"""

from composition_root.handlers import load_handlers
from composition_root.main import main
from composition_root.settings import DEMO_AGENT_TYPE, Settings
from composition_root.startup import StartupError
from composition_root.wiring import Orchestrator, build_container, wire_orchestrator

__all__ = [
    "DEMO_AGENT_TYPE",
    "Orchestrator",
    "Settings",
    "StartupError",
    "build_container",
    "load_handlers",
    "main",
    "wire_orchestrator",
]
