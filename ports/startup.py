"""What an adapter raises when what it opens (the store, the broker, the socket) cannot be used
as configured: a problem the operator must fix before chiffon can start, said in one line
(which setting, what is wrong, what to do) and never as a traceback."""

from __future__ import annotations


class StartupError(Exception):
    """One line for the operator; the command line prints it and exits non-zero."""


def redact(url: str) -> str:
    """A URL fit for a startup message: its credentials replaced by ***."""
    head, at, tail = url.rpartition("@")
    return f"{head.split('://')[0]}://***@{tail}" if at else url
