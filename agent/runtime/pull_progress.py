"""How far a pull has come, from the engine's progress stream: the bytes of its layers
downloaded over the bytes they hold, as one percentage that only grows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Layer statuses that mean its bytes are all here.
_DONE = {"Download complete", "Pull complete", "Already exists", "Verifying Checksum"}


class PullMeter:
    def __init__(self) -> None:
        # layer ID -> (bytes downloaded, bytes in all); a layer counts once its size is known.
        self._layers: dict[str, tuple[int, int]] = {}
        self._percent = 0

    def feed(self, line: Mapping[str, Any]) -> int | None:
        """The new percentage after line, or None when it did not grow."""
        layer = str(line.get("id", ""))
        status = str(line.get("status", ""))
        detail = line.get("progressDetail") or {}
        if status == "Downloading" and detail.get("total"):
            self._layers[layer] = (int(detail.get("current", 0)), int(detail["total"]))
        elif status in _DONE and layer in self._layers:
            total = self._layers[layer][1]
            self._layers[layer] = (total, total)
        else:
            return None
        done = sum(current for current, _ in self._layers.values())
        total = sum(size for _, size in self._layers.values())
        # A layer whose size comes later may lower the ratio: what was shown stands.
        percent = min(100, done * 100 // total)
        if percent <= self._percent:
            return None
        self._percent = percent
        return percent
