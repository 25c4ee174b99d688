"""The domain services stay small enough to build and fake: 6 constructor arguments at most
(issue 20). Values handed to user code (HandlerContext) are not services."""

from __future__ import annotations

import inspect
import pkgutil
from importlib import import_module

import chiffon

NOT_SERVICES = {"HandlerContext"}  # the handler's view of its task: a value, not a service
MAX_ARGUMENTS = 6


def test_every_domain_service_takes_six_arguments_at_most() -> None:
    large = {}
    for info in pkgutil.iter_modules(chiffon.__path__):
        if info.name == "__main__":  # the entry point: importing it runs the command line
            continue
        module = import_module(f"chiffon.{info.name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or name in NOT_SERVICES:
                continue
            if "__init__" not in vars(cls) or "__attrs_attrs__" in vars(cls):
                continue  # attrs values and classes without their own constructor
            count = len(inspect.signature(cls.__init__).parameters) - 1  # self
            if count > MAX_ARGUMENTS:
                large[name] = count
    assert large == {}
