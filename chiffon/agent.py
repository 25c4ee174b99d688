"""AgentRuntime: the agent side. Takes work of one type, runs handlers, reports back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable
from typing import Any
from uuid import UUID

from chiffon.credentials import AgentIdentity
from chiffon.handlers import HandlerContext, HandlerError, HandlerOutcome, HandlerRegistry
from chiffon.json_values import clean_text
from chiffon.message_limits import MAX_LIST_ITEMS
from chiffon.model import (
    AgentStatus,
    Cancel,
    Heartbeat,
    ResultStatus,
    StatusUpdate,
    WorkRequest,
    WorkResult,
)
from chiffon.reporting import Reporter
from chiffon.result_limits import fit_to_send
from chiffon.timeouts import TIMEOUT_EXIT_CODE, timeout_error
from ports.bus import AgentBus, WorkDelivery
from ports.resources import ResourceProbe

log = logging.getLogger(__name__)

CANCELLED_MEMORY = 10_000
CHANGE_DEBOUNCE_S = 0.2
HURRIED_FLUSH_S = 2.0  # a cold stop still sends what is queued, briefly
MAX_PROGRESS_CHARS = 1000


class AgentRuntime:
    """Runs at most `concurrency` handlers at once. A handler starts as its `running` status
    is published; the work message is acked as soon as the broker confirmed that status, and
    from then on the orchestrator owns the lease."""

    def __init__(
        self,
        bus: AgentBus,
        handlers: HandlerRegistry,
        identity: AgentIdentity,
        resources: ResourceProbe,
        concurrency: int = 1,
        heartbeat_interval_s: float = 2.0,
    ) -> None:
        self.agent_id = identity.agent_id
        self._agent_key = identity.key  # proves agent_id (chiffon.credentials); never logged
        self.agent_type = identity.agent_type
        self._bus = bus
        self._handlers = handlers
        self._resources = resources
        self._concurrency = concurrency
        self._interval = heartbeat_interval_s
        self._slots = asyncio.Semaphore(concurrency)
        self._reporter = Reporter(bus)
        self._running: dict[UUID, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._attempts: dict[UUID, int] = {}  # the attempt each running task is at here
        # Per running task: done once its `running` was confirmed (the orchestrator hears it).
        self._heard: dict[UUID, asyncio.Future[None]] = {}
        self._cancelled: OrderedDict[UUID, None] = OrderedDict()
        self._background: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._changed = asyncio.Event()

    @property
    def running_tasks(self) -> tuple[UUID, ...]:
        return tuple(self._running)

    async def start(self) -> None:
        await self.beat()
        await self._bus.consume(self.agent_type, self._concurrency, self._on_work, self._on_cancel)
        self._spawn(self._heartbeats())
        log.info(
            "agent %s (%s) started, concurrency %d",
            self.agent_id,
            self.agent_type,
            self._concurrency,
        )

    async def stop(self, grace_s: float = 10.0, hurry: asyncio.Event | None = None) -> None:
        """Take no more work, let running handlers finish within `grace_s` (or until `hurry`
        is set: a second Ctrl-C), then stop the rest and say goodbye listing them, so the
        orchestrator's loss policy retries exactly those. Work held but not started goes back
        to the queue when the bus closes."""
        self._stopping = True
        await self._bus.stop_consuming()
        running = [task for task, _ in self._running.values()]
        if running:
            await _first_of(asyncio.wait(running), hurry, grace_s)
        if hurry is not None and hurry.is_set():
            grace_s = min(grace_s, HURRIED_FLUSH_S)
        abandoned = tuple(self._running)
        for task, _ in list(self._running.values()):
            task.cancel()  # no result: the goodbye hands the task to the loss policy
        for bg in list(self._background):
            bg.cancel()
        await asyncio.gather(*self._background, *running, return_exceptions=True)
        await self._reporter.flush(timeout_s=grace_s)
        with contextlib.suppress(Exception):
            await self.beat(goodbye=True, running=abandoned)
        await self._bus.close()

    async def beat(self, goodbye: bool = False, running: tuple[UUID, ...] | None = None) -> None:
        busy = len(self._running) >= self._concurrency
        await self._bus.publish(
            Heartbeat(
                agent_id=self.agent_id,
                agent_type=self.agent_type,
                status=AgentStatus.BUSY if busy else AgentStatus.ONLINE,
                capabilities=tuple(sorted(self._handlers)),
                max_concurrency=self._concurrency,
                running_tasks=self._listed() if running is None else running,
                resources=self._resources.sample(),
                goodbye=goodbye,
                agent_key=self._agent_key,
            )
        )

    def _listed(self) -> tuple[UUID, ...]:
        """What a heartbeat lists as running: the tasks at work here and those whose result
        is still to be sent (to the orchestrator, both are running here)."""
        unsent = self._reporter.unsent_results()
        if not unsent:
            return self.running_tasks
        return tuple(dict.fromkeys((*self._running, *unsent)))[:MAX_LIST_ITEMS]

    async def _heartbeats(self) -> None:
        # Beat every interval, and soon after the set of running tasks changed, so the
        # registry shows an agent busy or idle again without waiting a whole interval.
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._changed.wait()
                await asyncio.sleep(CHANGE_DEBOUNCE_S)
            self._changed.clear()
            try:
                await self.beat()
            except Exception as exc:
                log.warning("heartbeat not sent: %s", exc)

    async def _on_work(self, delivery: WorkDelivery) -> None:
        self._spawn(self._take(delivery))

    async def _on_cancel(self, cancel: Cancel) -> None:
        if cancel.agent_id is not None:  # only this agent's run stops; the task goes on
            if cancel.agent_id == self.agent_id:
                self._stop(cancel)
            return
        self._cancelled[cancel.task_id] = None
        while len(self._cancelled) > CANCELLED_MEMORY:
            self._cancelled.popitem(last=False)
        self._stop(cancel)

    def _stop(self, cancel: Cancel) -> None:
        entry = self._running.get(cancel.task_id)
        # A cancel of one attempt (a run it does not hold) leaves a later one running here.
        ours = cancel.attempt in (None, self._attempts.get(cancel.task_id))
        if entry is not None and ours:
            log.info("cancelling task: %s", cancel.reason, extra={"task_id": str(cancel.task_id)})
            entry[1].set()
            entry[0].cancel()

    async def _take(self, delivery: WorkDelivery) -> None:
        req = delivery.request
        if req.task_id in self._cancelled or req.attempt <= self._attempts.get(req.task_id, 0):
            # Cancelled before it started, or a copy of a run at work here: acked once the
            # orchestrator surely heard of that run (were this agent to die before, the copy
            # goes back to the queue and runs elsewhere, so the task is not left pending).
            run_heard = self._heard.get(req.task_id)
            if run_heard is not None:
                await asyncio.shield(run_heard)
            await delivery.ack()
            return
        if req.task_id in self._running:
            await self._supersede(req.task_id)
        await self._slots.acquire()
        if self._stopping or not delivery.held:
            self._slots.release()
            if self._stopping:
                with contextlib.suppress(Exception):
                    await delivery.reject(requeue=True)
            else:  # lost while waiting for the slot
                _log_given_back(req)
            return
        # The handler starts while `running` is on its way to the broker; the delivery is acked
        # once `running` is confirmed (ADR 0006). Publishing `running` first, before the
        # handler can report anything, puts it ahead of the result on the channel.
        running = StatusUpdate(req.task_id, self.agent_id, req.attempt, True, lease=req.lease)
        confirming = asyncio.ensure_future(self._bus.publish(running))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # `announced`: `running` is confirmed or queued, so what the run reports goes after it.
        # `heard`: `running` is confirmed, so the orchestrator knows who runs the attempt.
        announced: asyncio.Future[None] = loop.create_future()
        heard: asyncio.Future[None] = loop.create_future()
        task = asyncio.create_task(self._run(req, stop, announced))
        self._running[req.task_id] = (task, stop)
        self._attempts[req.task_id] = req.attempt
        self._heard[req.task_id] = heard
        self._changed.set()
        try:
            await confirming
        except asyncio.CancelledError:
            announced.set_result(None)  # stopping: the result, if any, is not held back
            raise
        except Exception as exc:
            # Unconfirmed is not unsent: the connection may have dropped after the broker
            # routed `running`, and then this agent holds the attempt and a copy delivered
            # again is refused wherever it lands. So the run goes on, and `running` is sent
            # again ahead of its reports (ADR 0018); the message is acked once it is heard.
            log.warning("running not confirmed (%s); sending it again", exc, extra=_fields(req))
            sent = self._reporter.send(running)
            announced.set_result(None)
            await asyncio.shield(sent)
        else:
            announced.set_result(None)
        heard.set_result(None)
        if not delivery.held:
            # The channel closed: the broker delivers the message again. The orchestrator has
            # (or will have) this agent as the attempt's holder, so the run goes on here (ADR
            # 0018); the copy is dropped here as a duplicate, or refused elsewhere.
            log.info(
                "work message delivered again; this agent holds the attempt", extra=_fields(req)
            )
            return
        with contextlib.suppress(Exception):
            await delivery.ack()

    async def _supersede(self, task_id: UUID) -> None:
        """A later attempt of a task this agent still runs: the orchestrator counted this agent
        lost (it was paused, or its heartbeats were late) and gave the task its next attempt,
        so the old attempt's reports would be refused. Stop it without a result and take the
        new one (dropping the new one as a duplicate left the task pending for ever)."""
        old, _ = self._running[task_id]
        old.cancel()
        await asyncio.gather(old, return_exceptions=True)

    async def _run(self, req: WorkRequest, stop: asyncio.Event, announced: Awaitable[None]) -> None:
        started = time.monotonic()
        try:
            outcome = await self._call(req, stop, announced)
        except asyncio.CancelledError:
            if not stop.is_set():  # shutting down: the loss policy takes it from here
                raise
            outcome = (ResultStatus.CANCELLED, HandlerOutcome(output="cancelled"), None)
        finally:
            self._running.pop(req.task_id, None)
            self._attempts.pop(req.task_id, None)
            self._heard.pop(req.task_id, None)
            self._slots.release()
            self._changed.set()
        await announced  # `running` confirmed or queued first: the result goes after it
        status, done, error = fit_to_send(*outcome)
        duration_ms = int((time.monotonic() - started) * 1000)
        log.info("%s %s in %d ms", req.work_type, status.value, duration_ms, extra=_fields(req))
        self._reporter.send(
            WorkResult(
                task_id=req.task_id,
                request_id=req.request_id,
                agent_id=self.agent_id,
                attempt=req.attempt,
                status=status,
                output=done.output,
                result=done.result,
                error_message=error,
                exit_code=done.exit_code,
                duration_ms=duration_ms,
                retryable=done.retryable,
                lease=req.lease,
            )
        )

    async def _call(
        self, req: WorkRequest, stop: asyncio.Event, announced: Awaitable[None]
    ) -> tuple[ResultStatus, HandlerOutcome, str | None]:
        handler = self._handlers.get(req.work_type)
        if handler is None:
            msg = f"agent {self.agent_id} has no handler for work_type {req.work_type!r}"
            return ResultStatus.FAILED, HandlerOutcome(exit_code=127), msg

        async def progress(percent: int | None, message: str | None) -> None:
            await announced  # after `running`, never ahead of it
            text = None if message is None else clean_text(str(message))[:MAX_PROGRESS_CHARS]
            self._reporter.send(
                StatusUpdate(
                    req.task_id,
                    self.agent_id,
                    req.attempt,
                    False,
                    _percent(percent),
                    text,
                    lease=req.lease,
                )
            )

        ctx = HandlerContext(
            req.task_id, req.trace_id, req.work_type, req.attempt, req.parameters, progress, stop
        )
        try:
            async with asyncio.timeout(req.timeout_s):
                value = await handler(ctx)
        except HandlerError as exc:
            failed = HandlerOutcome(None, exc.output, exc.exit_code, retryable=exc.retryable)
            return ResultStatus.FAILED, failed, exc.message
        except TimeoutError:  # the same error and exit code as the orchestrator's deadline
            timed_out = HandlerOutcome(exit_code=TIMEOUT_EXIT_CODE)
            return ResultStatus.TIMED_OUT, timed_out, timeout_error(req.timeout_s)
        except Exception as exc:
            log.exception("handler raised", extra=_fields(req))
            return ResultStatus.FAILED, HandlerOutcome(exit_code=1), f"{type(exc).__name__}: {exc}"
        if isinstance(value, HandlerOutcome):
            return ResultStatus.COMPLETED, value, None
        return ResultStatus.COMPLETED, HandlerOutcome(result=value), None

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _percent(value: object) -> int | None:
    """A handler's progress as 0..100, whatever it passed (None when it is not a number)."""
    try:
        return None if value is None else max(0, min(100, int(value)))  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return None


def _log_given_back(req: WorkRequest) -> None:
    # The bus lost the delivery (its channel closed): the broker delivers it again, here or
    # to another agent. Running it here as well would run the task twice.
    log.info("work message given back to the broker", extra=_fields(req))


def _fields(req: WorkRequest) -> dict[str, Any]:
    """The ids of a log line about one attempt: its trace_id finds the dispatch's call, the
    task, its events and the orchestrator's lines too."""
    return {
        "task_id": str(req.task_id),
        "trace_id": str(req.trace_id),
        "work_type": req.work_type,
        "attempt": req.attempt,
    }


async def _first_of(done: Awaitable[Any], hurry: asyncio.Event | None, limit_s: float) -> None:
    """Until `done` completes, `hurry` is set or `limit_s` passes, whichever comes first
    (what `done` waits on is not cancelled)."""
    contenders = {asyncio.ensure_future(done)}
    if hurry is not None:
        contenders.add(asyncio.ensure_future(hurry.wait()))
    _, pending = await asyncio.wait(
        contenders, timeout=limit_s, return_when=asyncio.FIRST_COMPLETED
    )
    for waiter in pending:
        waiter.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
