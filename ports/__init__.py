"""Ports: the typing.Protocol interfaces the chiffon domain needs from the outside world."""
