"""Driving adapters of the command line: the `chiffon` command, its settings from env and flags,
the process's life (serve, agent, migrate, --workers supervision), startup checks, and the
client verbs with their HTTP client (which load nothing of the server)."""
