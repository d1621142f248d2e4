"""Configuration problems, collected so the operator sees every one at once."""

from __future__ import annotations


class ConfigError(Exception):
    """Raised with every problem found; each problem names its key (`resize.quality: ...`)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))
