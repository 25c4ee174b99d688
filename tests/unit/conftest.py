from collections.abc import AsyncIterator

import pytest

from tests.helpers import Stack, running_stack


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    async with running_stack() as s:
        yield s
