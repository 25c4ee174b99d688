"""Binding the listening socket, with a failure said as the setting to change."""

from __future__ import annotations

import errno
import socket

from ports.startup import StartupError


def bind(host: str, port: int, *, shared: bool = False) -> socket.socket:
    """A listening socket on host:port; `shared` (SO_REUSEPORT) for the workers of
    `serve --workers N`, which each listen on the same port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(socket.SOMAXCONN)
    except OSError as exc:
        sock.close()
        raise listen_error(host, port, exc) from None
    return sock


def listen_error(host: str, port: int, exc: OSError) -> StartupError:
    """Why `serve` cannot listen where it was told to, and which setting to change."""
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        why = "the port is in use (another chiffon?); pick another with --port / CHIFFON_PORT"
    elif exc.errno == errno.EADDRNOTAVAIL:
        why = "that address is not on this machine; fix --host / CHIFFON_HOST"
    elif exc.errno == errno.EACCES:
        why = "permission denied (ports below 1024 need privileges); use a higher --port"
    else:
        why = f"{exc.strerror or exc}; check --host / --port"
    return StartupError(f"cannot listen on {where}: {why}")
