"""Every error the API can answer, the domain's and the HTTP edge's, has its own code and an
HTTP status: moving an error between the two must not change either."""

from __future__ import annotations

from adapters.http import edge_errors
from adapters.http.errors import STATUS_BY_CODE
from chiffon import errors
from chiffon.errors import ChiffonError

EDGE = {
    "UnsupportedMediaType": (1005, 415),
    "RequestTimeout": (1006, 408),
    "Unauthorized": (4010, 401),
    "ForbiddenOrigin": (4030, 403),
    "ForbiddenHost": (4031, 403),
    "TooManyConnections": (4290, 429),
    "TooManyAuthFailures": (4291, 429),
}


def _errors(module: object) -> dict[str, type[ChiffonError]]:
    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, ChiffonError)
        and value.__module__ == getattr(module, "__name__", "")
    }  # fmt: skip


def test_the_edge_errors_keep_their_codes_and_statuses() -> None:
    found = _errors(edge_errors)
    assert {n: (c.error_code, STATUS_BY_CODE[c.error_code]) for n, c in found.items()} == EDGE


def test_no_edge_error_is_left_in_the_domain_and_no_code_is_used_twice() -> None:
    domain, edge = _errors(errors), _errors(edge_errors)
    assert not set(domain) & set(edge)
    codes = [c.error_code for c in [*domain.values(), *edge.values()]]
    assert len(codes) == len(set(codes))
    assert all(code in STATUS_BY_CODE for code in codes)
