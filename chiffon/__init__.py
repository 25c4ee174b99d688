"""chiffon: the pure domain of a small, fast work orchestrator (no I/O imports here)."""
