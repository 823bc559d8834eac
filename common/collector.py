"""The garbage collector's pace in the daemons, whose heaps hold a whole cluster.

Python collects its youngest objects every 700 allocations, and every object at all once enough
young ones have lived on; a manager holding 100,000 tasks, each written several times on its way
to running, spent 42 of its 155 s of CPU in the collector through a burst at 1,000 nodes (61
full collections of about half a second each, every one a pause of the whole event loop), and a
hollow process of 1,000 nodes 42 of 124 s. Collecting the young every 50,000 allocations lets
most short-lived objects die by their reference counts first: 5 s in the collector, no full
collection in the burst. Nothing the daemons keep relies on the collector to be freed soon."""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 20)


def pace_for_daemons() -> None:
    gc.set_threshold(*THRESHOLDS)
