"""Loading handler registries named by CHIFFON_HANDLERS / --handlers (`module[:object]`, ...)."""

from __future__ import annotations

import importlib
import os
import sys

from chiffon.demo_handlers import demo
from chiffon.handlers import HandlerRegistry


class HandlersNotFound(ValueError):
    """A handler spec that names nothing loadable; the message says what and how to fix it."""


def load_handlers(spec: str) -> HandlerRegistry:
    """`module[:object]` entries, comma-separated (`demo` for the built-in ones; empty means
    the demo handlers). The current directory is importable, so a file `myhandlers.py` next
    to you is `--handlers myhandlers`; the object defaults to `handlers`."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    registry = HandlerRegistry()
    for item in [s.strip() for s in spec.split(",") if s.strip()] or ["demo"]:
        registry.merge(demo if item == "demo" else _load(item))
    return registry


def _load(item: str) -> HandlerRegistry:
    module_name, _, attr = item.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise HandlersNotFound(
            f"cannot import {module_name!r} for --handlers/CHIFFON_HANDLERS ({exc}); "
            "give a module importable from the current directory, e.g. myhandlers"
        ) from None
    except Exception as exc:  # the module itself failed: say where, briefly
        raise HandlersNotFound(
            f"importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    found = getattr(module, attr or "handlers", None)
    if not isinstance(found, HandlerRegistry):
        raise HandlersNotFound(
            f"{module_name} has no HandlerRegistry named {attr or 'handlers'!r}; "
            f"define `{attr or 'handlers'} = HandlerRegistry()` there, or name it as "
            f"{module_name}:OBJECT"
        )
    return found
