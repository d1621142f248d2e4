"""One writer at a time per original, and which write currently owns its sizes.

Two uploads of one original interleaving their writes could leave the original of one
and the sizes of the other; holding the original's lock across a write's whole sequence
(original, then sizes) makes the last writer win both. A background render of sizes
takes the lock only to store, and stores only if no later write claimed the original.
Within one process only: replicas rely on the checks in proxy.services.
"""

from __future__ import annotations

from rendering import KeyedLocks


class OriginalLocks(KeyedLocks):
    def __init__(self) -> None:
        super().__init__()
        self._owners: dict[str, object] = {}

    def claim(self, original: str) -> object:
        """Make a new write the owner of `original`'s sizes; the token says who."""
        token = object()
        self._owners[original] = token
        return token

    def owns(self, original: str, token: object) -> bool:
        return self._owners.get(original) is token

    def release(self, original: str, token: object) -> None:
        if self._owners.get(original) is token:
            del self._owners[original]
