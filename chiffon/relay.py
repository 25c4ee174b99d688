"""The outbox relay: publishes what the store recorded, until the bus confirmed it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import timedelta

import attrs

from chiffon.changes import GiveUp
from chiffon.fresh_outbox import FreshOutbox
from chiffon.ledger import TaskLedger
from chiffon.model import OutboxMessage, TaskAnnouncement, WorkRequest
from ports.bus import PartiallyPublished, Rejected, WorkBus
from ports.clock import Clock
from ports.task_repository import OutboxStore

log = logging.getLogger(__name__)


@attrs.frozen
class RelayTiming:
    """How much the relay sends at once, how often it sweeps, when a row is the sweep's
    (older than `stale_after_s`), and its longest wait between failed sends."""

    batch: int = 200
    poll_s: float = 1.0
    stale_after_s: float = 2.0
    max_backoff_s: float = 5.0


class OutboxRelay:
    """Sends outbox messages through the bus and marks them sent.

    Fast path: messages this process just committed are handed over (`submit`) and published
    at once, then marked sent with one statement. Sweep: every `poll_s` it claims unsent rows
    older than `stale_after_s` (written by a replica that died, or whose fast path failed,
    e.g. while the broker was down) with FOR UPDATE SKIP LOCKED, so nothing committed is ever
    left behind, with capped exponential backoff while publishing fails.
    """

    def __init__(
        self,
        tasks: OutboxStore,
        bus: WorkBus,
        clock: Clock,
        fresh: FreshOutbox,
        ledger: TaskLedger,
        timing: RelayTiming = RelayTiming(),
    ) -> None:
        self._tasks = tasks
        self._bus = bus
        self._clock = clock
        self._fresh = fresh
        self._ledger = ledger
        self._batch = timing.batch
        self._poll_s = timing.poll_s
        self._stale_after = timedelta(seconds=timing.stale_after_s)
        self._max_backoff_s = timing.max_backoff_s

    async def drain(self, stale_only: bool = True) -> int:
        """Sweep: send unsent rows (only those older than the stale window unless told
        otherwise); returns how many went out. Yields to the fast path between batches."""
        sent = 0
        while True:
            now = self._clock.now()
            before = now - self._stale_after if stale_only else None
            n = await self._tasks.relay_outbox(self._publish, self._batch, before, due_by=now)
            sent += n
            if n < self._batch:
                self._fresh.due_passed(now)
                return sent
            await self._send_fresh()  # a backlog must not starve what was just committed

    async def resend_lost_work(self) -> int:
        """An in-process bus starts empty: the work it held when the last process stopped
        (delivered, not yet started) went with it. Send the work of every pending task whose
        work went out once more; returns how many. Only for a bus that starts empty, and
        before this process's relay sends anything: elsewhere it would send work twice."""
        sent = 0
        while batch := await self._tasks.pending_without_work(self._batch):
            await self._ledger.resend_work(batch)
            sent += len(batch)
        if sent:
            log.warning("sent again the work of %d pending tasks: the in-process bus lost it", sent)
        return sent

    async def run(self, resend_lost_work: bool = False) -> None:
        """Send what is committed, forever. `resend_lost_work`: first (and before anything
        else goes out) resend what an in-process bus lost with the last process, retried like
        any send while the store is away."""
        backoff = 0.05
        next_sweep = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                if resend_lost_work:
                    await self.resend_lost_work()
                    resend_lost_work = False
                await self._send_fresh()
                if loop.time() >= next_sweep or self._delayed_due():
                    await self.drain()
                    next_sweep = loop.time() + self._poll_s
                backoff = 0.05
            except Exception as exc:
                log.warning("outbox relay: publish failed (%s); retrying in %.2fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._until_next(next_sweep - loop.time())):
                    await self._fresh.wake.wait()
            self._fresh.wake.clear()

    def _delayed_due(self) -> bool:
        due = self._fresh.next_due()
        return due is not None and due <= self._clock.now()

    def _until_next(self, sweep_in: float) -> float:
        """Seconds to wait: until the next sweep, or the next delayed message, if sooner."""
        due = self._fresh.next_due()
        if due is not None:
            sweep_in = min(sweep_in, (due - self._clock.now()).total_seconds())
        return max(0.0, sweep_in)

    async def _send_fresh(self) -> None:
        while self._fresh:
            # What has waited past the stale window belongs to the sweep (which may be
            # sending it right now): leave it, so it is not published twice.
            fresh_after = self._clock.now() - self._stale_after
            batch = [m for m in self._fresh.take(self._batch) if m.created_at > fresh_after]
            if not batch:
                continue
            if not self._bus.is_connected():
                self._fresh.clear()  # the sweep sends them once the broker is back
                return
            try:
                await self._publish(batch)
            except PartiallyPublished as exc:
                await self._tasks.mark_sent(sorted(exc.confirmed))
                raise  # the rest is left to the sweep
            await self._tasks.mark_sent([m.message_id for m in batch])

    async def _publish(self, batch: Sequence[OutboxMessage]) -> None:
        """Announcements first (flushed: with the broker before anything else goes out), then
        the bus messages, so a change is always heard before anything it caused."""
        told = [m for m in batch if isinstance(m.payload, TaskAnnouncement)]
        await self._ledger.announce(
            [p for m in told if isinstance(p := m.payload, TaskAnnouncement)]
        )
        rest = [m for m in batch if not isinstance(m.payload, TaskAnnouncement)]
        try:
            rejected = await self._bus.publish(rest)
        except PartiallyPublished as exc:
            await self._give_up(rest, exc.rejected)
            sent = exc.confirmed | {m.message_id for m in told}
            raise PartiallyPublished(str(exc), frozenset(sent), exc.rejected) from exc
        await self._give_up(rest, rejected)

    async def _give_up(self, batch: Sequence[OutboxMessage], rejected: Rejected) -> None:
        """A message the bus can never send is not retried (it would hold its batch forever):
        it counts as done, and the task whose work it was fails, saying why."""
        for message in batch:
            why = rejected.get(message.message_id)
            if why is None:
                continue
            payload = message.payload
            task_id = getattr(payload, "task_id", None)
            log.error(
                "outbox message %s can never be sent: %s",
                message.message_id,
                why,
                extra={"task_id": str(task_id)},
            )
            if isinstance(payload, WorkRequest):
                await self._fail(payload, why)

    async def _fail(self, work: WorkRequest, why: str) -> None:
        reason = f"could not be sent to an agent: {why}"
        await self._ledger.apply(work.task_id, GiveUp(work.attempt, reason))
