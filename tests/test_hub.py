"""The live-push hub's own lifecycle, on the in-process broadcast (no Redis needed)."""

from __future__ import annotations

import asyncio

import pytest

from crmfeed.live.hub import Hub


@pytest.mark.parametrize("turns", range(8))
async def test_stop_ends_even_when_a_message_arrives_as_it_is_called(turns: int) -> None:
    """A message reaches the listener `turns` loop turns before `stop()` cancels it. In one of
    these turns the listener has just been woken by the message when it is cancelled: on
    Python 3.11, `asyncio.wait_for` then returns the message and swallows the cancellation, so
    the listener went on listening and `stop()` (and the server's shutdown) waited forever."""
    hub = Hub("memory://", heartbeat_seconds=60)
    await hub.start()
    try:
        await asyncio.sleep(0.05)  # the first heartbeat has come back: the listener waits
        broadcast = hub._broadcast
        assert broadcast is not None
        await broadcast.publish(hub.channel, '{"n": [[7, 1]]}')
        for _ in range(turns):
            await asyncio.sleep(0)
    finally:
        stopping = asyncio.ensure_future(hub.stop())
        done, _ = await asyncio.wait({stopping}, timeout=3)
    assert done, f"stop() did not end ({turns} turns after the message)"
    stopping.result()
