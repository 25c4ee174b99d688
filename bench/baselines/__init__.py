"""Baselines chiffon is compared with, each runnable on its own (see docs/performance.md)."""
