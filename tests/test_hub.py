"""The live-push hub's own lifecycle, on the in-process broadcast (no Redis needed), and a
subscription's buffer."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from crmfeed.live.hub import Hub, Mailbox


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


async def test_a_subscription_buffer_holds_nothing_while_empty_and_stays_bounded() -> None:
    """An idle subscription's Mailbox keeps no items container and no waiter beyond the
    reader's one wait; it hands items over in order and refuses more than its size."""
    box = Mailbox(2)
    assert box.empty() and box.qsize() == 0 and box._items is None
    reader = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    box.put_nowait("a")
    assert await reader == "a"
    assert box.empty() and box._items is None and box._waiter is None
    box.put_nowait("b")
    box.put_nowait("c")
    with pytest.raises(asyncio.QueueFull):
        box.put_nowait("d")
    assert box.qsize() == 2
    assert box.get_nowait() == "b"
    assert await box.get() == "c"
    with pytest.raises(asyncio.QueueEmpty):
        box.get_nowait()
    cancelled = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    cancelled.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await cancelled
    assert box._waiter is None
    box.put_nowait("e")  # nobody waits: it stays for the next reader
    assert await box.get() == "e"
