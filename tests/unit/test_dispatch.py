from uuid import uuid4

import pytest

from adapters.codec import decode_message
from adapters.memory.clock import SequentialIds
from chiffon.commands import DispatchCommand
from chiffon.errors import InvalidRequest, PayloadTooLarge, TaskIdConflict, UnknownWorkType
from chiffon.events import TaskChanged
from chiffon.fresh_outbox import FreshOutbox
from chiffon.messages import OutboxFactory
from chiffon.model import ChangeKind, TaskStatus, WorkRequest
from ports.task_repository import TaskFilter
from tests.helpers import TEST_KEY, Stack, eventually


async def queued(stack: Stack, agent_type: str = "demo") -> list[WorkRequest]:
    """Work waiting in the agent type's queue, highest priority first."""
    queue = stack.broker._queues.get(f"chiffon.work.{agent_type}")
    heap = sorted(queue.heap) if queue else []
    return [decode_message(d.body) for _, _, d in heap]  # type: ignore[misc]


async def test_dispatch_stores_a_pending_task_and_queues_its_work(stack: Stack) -> None:
    task = await stack.dispatch("echo", parameters={"a": 1}, priority=4)
    assert task.status is TaskStatus.PENDING
    assert (task.agent_type, task.priority, task.attempt) == ("demo", 4, 1)
    assert (await stack.task(task.task_id)) == task
    work = await eventually(lambda: queued(stack), lambda q: len(q) == 1)
    assert work[0].task_id == task.task_id
    assert work[0].parameters == {"a": 1}
    assert work[0].request_id == task.request_id
    assert [type(e) for e in stack.events] == [TaskChanged]


async def test_same_request_again_returns_the_first_answer(stack: Stack) -> None:
    cmd = DispatchCommand(uuid4(), "echo", {"x": 1}, 3)
    first, created = await stack.service.dispatch(cmd)
    again, created_again = await stack.service.dispatch(cmd)
    assert (created, created_again) == (True, False)
    assert again.request_id == first.request_id
    await eventually(lambda: queued(stack), lambda q: len(q) == 1)
    assert len(await queued(stack)) == 1


async def test_a_different_request_with_a_used_task_id_is_a_conflict(stack: Stack) -> None:
    task_id = uuid4()
    await stack.service.dispatch(DispatchCommand(task_id, "echo", {"x": 1}))
    with pytest.raises(TaskIdConflict) as err:
        await stack.service.dispatch(DispatchCommand(task_id, "echo", {"x": 2}))
    assert err.value.error_code == 1003


async def test_unknown_work_type_stores_and_publishes_nothing(stack: Stack) -> None:
    task_id = uuid4()
    with pytest.raises(UnknownWorkType) as err:
        await stack.service.dispatch(DispatchCommand(task_id, "teleport"))
    assert err.value.error_code == 1001
    page = await stack.wired.tasks.page(TaskFilter(), 10, None)
    assert page.items == ()
    assert stack.broker.depth("chiffon.work.demo") == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"priority": 0}, "priority"),
        ({"priority": 6}, "priority"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"work_type": " "}, "work_type"),
    ],
)
async def test_invalid_commands_name_the_field(stack: Stack, kwargs: dict, field: str) -> None:
    args = {"task_id": uuid4(), "work_type": "echo", **kwargs}
    with pytest.raises(InvalidRequest) as err:
        await stack.service.dispatch(DispatchCommand(**args))
    assert field in err.value.details


async def test_oversized_parameters_are_refused(stack: Stack) -> None:
    with pytest.raises(PayloadTooLarge) as err:
        await stack.dispatch("echo", parameters={"blob": "x" * 300_000})
    assert err.value.error_code == 1004


async def test_work_types_advertised_by_agents_are_routable(stack: Stack) -> None:
    from chiffon.handlers import HandlerRegistry

    gpu = HandlerRegistry()

    @gpu.register("render")
    async def render(ctx: object) -> str:
        return "rendered"

    await stack.add_agent(gpu, agent_type="gpu")
    await eventually(lambda: stack.service.list_agents(), lambda a: len(a) == 1)
    task = await stack.dispatch("render")
    assert task.agent_type == "gpu"
    done = await stack.until_status(task.task_id, TaskStatus.COMPLETED)
    assert done.result == "rendered"


async def test_the_relay_fast_path_is_bounded_and_keeps_groups_whole(stack: Stack) -> None:
    """Past its bound the fast path takes no more (the sweep sends those), and it never
    splits a group: an announcement is never queued without the work it comes with."""
    fresh = FreshOutbox(max_waiting=5)
    outbox = OutboxFactory(stack.clock, SequentialIds(), TEST_KEY)
    groups = [
        outbox.work_announced(
            await stack.dispatch("echo", parameters={"n": n}), ChangeKind.DISPATCHED
        )
        for n in range(3)
    ]
    for group in groups:
        fresh.submit(group)
    assert fresh.take(100) == groups[0] + groups[1]
    assert fresh.wake.is_set() and len(fresh) == 0
