"""Ports: the message bus, as the orchestrator and as an agent see it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol
from uuid import UUID

from chiffon.model import (
    AgentMessage,
    Cancel,
    Heartbeat,
    OutboxMessage,
    StatusUpdate,
    WorkRequest,
    WorkResult,
)

AgentMessageHandler = Callable[[AgentMessage], Awaitable[None]]
# Messages a bus can never publish (they cannot be encoded): message_id -> why.
Rejected = Mapping[UUID, str]


class BusUnavailable(Exception):
    """The broker cannot be reached, or did not confirm or route a publish."""


class PartiallyPublished(BusUnavailable):
    """Part of a batch was confirmed by the broker, the rest not; `confirmed` holds the
    message_ids that are done with (they got out, or are `rejected`: they never can), so the
    outbox marks only those sent (no needless resend)."""

    def __init__(
        self, message: str, confirmed: frozenset[UUID], rejected: Rejected | None = None
    ) -> None:
        super().__init__(message)
        self.confirmed = confirmed
        self.rejected: Rejected = rejected or {}


class WorkBus(Protocol):
    """The orchestrator's side of the bus."""

    async def publish(self, messages: Sequence[OutboxMessage]) -> Rejected:
        """Publish work requests (to their agent type's queue, by priority) and cancels (to
        every agent). Returns once the broker has confirmed all of them but those it returns
        as rejected (they cannot be encoded: one bad message never holds up the others);
        raises BusUnavailable if any was not confirmed or could not be routed
        (PartiallyPublished when some were)."""
        ...

    async def consume_agent_messages(
        self, handler: AgentMessageHandler, on_refused: Callable[[str], None] | None = None
    ) -> None:
        """Start delivering statuses, results and heartbeats (in the order each agent sent
        them) to `handler`. A message is acknowledged only after `handler` returned; if it
        raises, the message is delivered again later. Malformed or out-of-bounds messages are
        dead-lettered, and `on_refused("malformed")` counts each."""
        ...

    def is_connected(self) -> bool: ...

    async def close(self) -> None: ...


class WorkDelivery(Protocol):
    """One work message handed to an agent; it stays the agent's until acked or rejected."""

    @property
    def request(self) -> WorkRequest: ...

    @property
    def redelivered(self) -> bool: ...

    @property
    def held(self) -> bool:
        """Still this agent's: not settled, and not given back by the bus (a lost channel
        returns its unacked messages to the queue, to be delivered again). Start only if held."""
        ...

    async def ack(self) -> None: ...

    async def reject(self, requeue: bool) -> None: ...


WorkHandler = Callable[[WorkDelivery], Awaitable[None]]
CancelHandler = Callable[[Cancel], Awaitable[None]]


class AgentBus(Protocol):
    """An agent's side of the bus."""

    async def consume(
        self, agent_type: str, prefetch: int, on_work: WorkHandler, on_cancel: CancelHandler
    ) -> None:
        """Start taking work of `agent_type`, highest priority first, at most `prefetch`
        unacknowledged at a time, and every cancel broadcast. Unacknowledged work goes back to
        the queue when the consumer stops or dies."""
        ...

    async def stop_consuming(self) -> None:
        """Take no more work; deliveries already held stay held until acked or rejected."""
        ...

    async def publish(self, message: StatusUpdate | WorkResult | Heartbeat) -> None:
        """Send to the orchestrator; returns once the broker confirmed it. Messages are heard
        in the order the calls were made, also when a call is made before the previous one
        returned (several in flight: see ADR 0006)."""
        ...

    def is_connected(self) -> bool: ...

    async def close(self) -> None:
        """Disconnect; deliveries not acked go back to their queue."""
        ...
