"""GroupCommitter: waiters that arrive while a commit runs share the next one; each gets its own outcome."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from gateway.committer import GroupCommitter


def test_items_arriving_during_a_commit_share_the_next_one() -> None:
    batches: list[list[int]] = []
    release = threading.Event()

    def commit(items: Sequence[int]) -> list[int | BaseException]:
        batches.append(list(items))
        if len(batches) == 1:
            assert release.wait(10)
        return [i * 10 for i in items]

    async def scenario() -> list[int]:
        committer: GroupCommitter[int, int] = GroupCommitter(commit)
        first = asyncio.ensure_future(committer.submit(1))
        while not batches:
            await asyncio.sleep(0.01)
        # Given a commit in progress, when four more arrive
        rest = [asyncio.ensure_future(committer.submit(i)) for i in (2, 3, 4, 5)]
        await asyncio.sleep(0.05)
        release.set()
        results = await asyncio.gather(first, *rest)
        committer.close()
        return results

    results = asyncio.run(scenario())
    # Then they go in one batch, and each waiter gets its own result
    assert batches == [[1], [2, 3, 4, 5]]
    assert results == [10, 20, 30, 40, 50]


def test_each_waiter_gets_its_own_error_and_a_crash_reaches_all() -> None:
    def commit(items: Sequence[int]) -> list[int | BaseException]:
        if 0 in items:
            raise RuntimeError("boom")
        return [ValueError(i) if i % 2 else i for i in items]

    async def scenario() -> None:
        committer: GroupCommitter[int, int] = GroupCommitter(commit)
        outcomes = await asyncio.gather(*(committer.submit(i) for i in (1, 2)), return_exceptions=True)
        assert isinstance(outcomes[0], ValueError) and outcomes[1] == 2
        with pytest.raises(RuntimeError, match="boom"):
            await committer.submit(0)
        committer.close()

    asyncio.run(scenario())


def test_a_waiter_that_gave_up_does_not_break_the_batch() -> None:
    release = threading.Event()

    def commit(items: Sequence[int]) -> list[int | BaseException]:
        assert release.wait(10)
        return list(items)

    async def scenario() -> None:
        committer: GroupCommitter[int, int] = GroupCommitter(commit)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(committer.submit(1), 0.05)
        release.set()
        assert await committer.submit(2) == 2
        committer.close()

    asyncio.run(scenario())
