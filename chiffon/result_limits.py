"""What a handler produced, made fit to send and store: its result must be a JSON value within
chiffon's limits (else the attempt fails, saying why); its texts lose NUL and lone surrogates,
and output keeps its last MAX_OUTPUT_CHARS."""

from __future__ import annotations

import json
from typing import Final

import attrs

from chiffon.config import MAX_OUTPUT_CHARS
from chiffon.handlers import HandlerOutcome
from chiffon.json_values import JsonRejected, check, clean_text
from chiffon.model import ResultStatus

MAX_RESULT_BYTES: Final = 1024 * 1024
Outcome = tuple[ResultStatus, HandlerOutcome, str | None]


def fit_to_send(status: ResultStatus, done: HandlerOutcome, error: str | None) -> Outcome:
    """Never raises: a result that breaks a limit becomes a failure with exit code 1."""
    problem = _result_problem(done.result)
    if problem is not None:
        status, error = ResultStatus.FAILED, f"the handler's result cannot be kept: {problem}"
        done = attrs.evolve(done, result=None, exit_code=1)
    return status, _clean(done), None if error is None else clean_text(str(error))[:10_000]


def _result_problem(result: object) -> str | None:
    try:
        check(result, path="result")
    except JsonRejected as exc:
        return str(exc)
    size = len(json.dumps(result, separators=(",", ":")))
    if size > MAX_RESULT_BYTES:
        return f"result is {size} bytes of JSON; the limit is {MAX_RESULT_BYTES}"
    return None


def _clean(done: HandlerOutcome) -> HandlerOutcome:
    if done.output is None:
        return done
    return attrs.evolve(done, output=clean_text(str(done.output))[-MAX_OUTPUT_CHARS:])
