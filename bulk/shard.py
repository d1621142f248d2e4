"""`--shard K/N`: a deterministic split of the originals so N machines share one run.

An original belongs to shard K when the SHA-1 of its key (`t1/full/1/3/a.jpg`), read as a
big-endian integer, is K modulo N. The key alone decides it, not the listing order, the
machine or the Python version (unlike `hash()`), so every member of a Kubernetes Indexed
Job computes the same partition and together they cover every original exactly once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`"2/8"` → Shard(2, 8); ValueError naming the rule that failed."""
        index_text, slash, count_text = text.partition("/")
        if not slash or not index_text.isdigit() or not count_text.isdigit():
            raise ValueError(f"--shard {text!r}: expected K/N, e.g. 0/4")
        index, count = int(index_text), int(count_text)
        if count < 1 or index >= count:
            raise ValueError(f"--shard {text!r}: need N >= 1 and 0 <= K < N")
        return cls(index, count)

    def owns(self, key: str) -> bool:
        if self.count == 1:
            return True
        digest = hashlib.sha1(key.encode(), usedforsecurity=False).digest()
        return int.from_bytes(digest, "big") % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


ALL = Shard(0, 1)
