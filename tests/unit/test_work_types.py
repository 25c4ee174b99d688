"""OrchestratorService.work_types: what a dispatch may name, and where it would go."""

from chiffon.handlers import HandlerContext, HandlerRegistry
from chiffon.routing import Route, RouteSource, RoutingTable
from tests.helpers import Stack, eventually


def test_the_table_comes_first_and_the_first_advertiser_wins() -> None:
    table = RoutingTable({"echo": "demo", "zip": "infra"})
    advertised = [("media", "transcode"), ("gpu", "transcode"), ("other", "echo")]
    assert table.known(advertised) == [
        Route("echo", "demo", RouteSource.TABLE),
        Route("transcode", "media", RouteSource.ADVERTISED),
        Route("zip", "infra", RouteSource.TABLE),
    ]
    # The same choice dispatch makes.
    assert table.lookup("transcode", advertised) == "media"
    assert table.lookup("echo", advertised) == "demo"


async def test_work_types_lists_the_table_then_live_agents_capabilities(stack: Stack) -> None:
    before = await stack.service.work_types()
    assert Route("sleep", "demo", RouteSource.TABLE) in before
    assert all(r.source is RouteSource.TABLE for r in before)
    assert [r.work_type for r in before] == sorted(r.work_type for r in before)

    gpu = HandlerRegistry()

    @gpu.register("render")
    async def render(ctx: HandlerContext) -> str:
        return "rendered"

    @gpu.register("echo")  # already in the table: the table's route stands
    async def echo(ctx: HandlerContext) -> str:
        return "gpu echo"

    await stack.add_agent(gpu, agent_type="gpu")
    after = await eventually(
        stack.service.work_types, lambda routes: len(routes) == len(before) + 1
    )
    assert Route("render", "gpu", RouteSource.ADVERTISED) in after
    assert Route("echo", "demo", RouteSource.TABLE) in after
