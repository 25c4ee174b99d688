"""The long-running verbs tune the cyclic garbage collector for a server's allocation pattern."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from adapters.cli.main import tune_collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_collector")
def test_what_is_loaded_at_start_is_frozen_and_young_objects_wait_for_more() -> None:
    tune_collector()
    assert gc.get_freeze_count() > 0  # modules and classes are out of every collection
    assert gc.get_threshold() == (20_000, 10, 10)
    assert gc.isenabled()  # still collected: cycles made later are found
