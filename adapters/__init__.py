"""Adapters: the technologies behind chiffon's ports."""
