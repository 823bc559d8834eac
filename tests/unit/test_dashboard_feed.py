"""The dashboard's event feed: a page hears first that it is subscribed, then every item
published after that, so a change between rendering and subscribing is never lost."""

from __future__ import annotations

import asyncio

from cli.dashboard.events import Broadcast


async def test_a_subscriber_hears_it_is_subscribed_then_what_comes_after() -> None:
    feed: Broadcast[str] = Broadcast()
    feed.publish("before anyone listened")
    stream = feed.subscribe("ready")
    assert await anext(stream) == "ready"
    # Subscribed by now: what is published next reaches it, in order.
    feed.publish("task failed")
    feed.publish("task removed")
    assert await anext(stream) == "task failed"
    assert await anext(stream) == "task removed"
    await stream.aclose()


async def test_each_subscriber_gets_every_item_and_a_closed_one_none() -> None:
    feed: Broadcast[str] = Broadcast()
    first, second = feed.subscribe("ready"), feed.subscribe("ready")
    assert [await anext(first), await anext(second)] == ["ready", "ready"]
    await second.aclose()
    feed.publish("node down")
    assert await asyncio.wait_for(anext(first), 5) == "node down"
    await first.aclose()
