"""Adapters to the host: real time, random ids, machine resources."""
