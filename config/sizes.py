"""Size specs: the `WxH` strings a site is configured with (`300x`, `x500`, `215x170`).

The literal text is part of the object key, so a spec keeps the exact string it was
parsed from: `300x` and `300x300` are different sizes and different objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SPEC = re.compile(r"^(?P<w>[1-9][0-9]{0,4})?x(?P<h>[1-9][0-9]{0,4})?$")
MAX_SIDE = 10_000


@dataclass(frozen=True, order=True)
class SizeSpec:
    """One configured size; `width`/`height` are None where the spec leaves a side empty."""

    text: str
    width: int | None
    height: int | None

    @classmethod
    def parse(cls, text: str) -> SizeSpec:
        """Parse one spec; raises ValueError with a message fit for a config error."""
        match = _SPEC.match(text)
        if match is None or (match["w"] is None and match["h"] is None):
            raise ValueError(f"{text!r} is not a size like '300x', 'x500' or '215x170'")
        width = int(match["w"]) if match["w"] else None
        height = int(match["h"]) if match["h"] else None
        if max(width or 0, height or 0) > MAX_SIDE:
            raise ValueError(f"{text!r}: a side may be at most {MAX_SIDE} pixels")
        return cls(text, width, height)


def parse_sizes(value: str | list[str]) -> tuple[SizeSpec, ...]:
    """Parse the seeds' comma-separated list (`"300x, 300x300, 70x70"`) or a TOML list.

    Duplicates are dropped keeping the first; the order is kept because it is the order
    the CLI reports and renders in.
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    specs: dict[str, SizeSpec] = {}
    wrong: list[str] = []  # every bad spec in one message: one fix, not one per run
    for raw in items:
        text = str(raw).strip()
        if text and text not in specs:
            try:
                specs[text] = SizeSpec.parse(text)
            except ValueError as error:
                wrong.append(str(error))
    if wrong:
        raise ValueError("; ".join(wrong))
    if not specs:
        raise ValueError("no sizes given")
    return tuple(specs.values())
