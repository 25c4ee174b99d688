"""Driven adapter: this machine's load, read with psutil, for heartbeats."""

from __future__ import annotations

import os

import psutil

from chiffon.model import JsonObject
from ports.resources import ResourceProbe


class PsutilResourceProbe(ResourceProbe):
    def __init__(self) -> None:
        psutil.cpu_percent(interval=None)  # primes the counter: the first reading is 0.0

    def sample(self) -> JsonObject:
        memory = psutil.virtual_memory()
        return {
            "cpu_percent": psutil.cpu_percent(interval=None),
            "memory_percent": memory.percent,
            "memory_free_mb": round(memory.available / 2**20),
            "load": round(os.getloadavg()[0], 2),
            "cpu_count": os.cpu_count() or 1,
        }
