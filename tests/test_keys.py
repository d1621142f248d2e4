"""The URL/key layout: what parses, what is refused, and Magento's dispersion path."""

from __future__ import annotations

import pytest

from layouts import BadPath, parse_rel
from layouts.mventory import split_path


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/t1/215x170/1/3/1335478295542.jpg", ("t1", "215x170", "1/3/1335478295542.jpg")),
        ("/t1/full/a/_/a.jpg", ("t1", "full", "a/_/a.jpg")),
        ("/t1/300x/small_image.jpg?v=3", ("t1", "300x", "small_image.jpg")),
        ("/t1/x500/%61/b/ab.jpg", ("t1", "x500", "a/b/ab.jpg")),
    ],
)
def test_valid_paths_parse_to_their_key(target: str, expected: tuple[str, str, str]) -> None:
    assert split_path(target.partition("?")[0]) == expected


@pytest.mark.parametrize(
    "target",
    [
        "/t1/300x",
        "/",
        "t1/300x/a.jpg",
        "/t1/300x/%252e%252e/a.jpg",
        "/t1/300x/a%C3%28.jpg",
        "/t1/300x/" + "/".join("a" * 9) + "/x.jpg",
        "/t1/300x/" + "b" * 256,
    ],
)
def test_malformed_paths_are_bad(target: str) -> None:
    with pytest.raises(BadPath):
        split_path(target)


def test_percent_escapes_are_decoded_once_only() -> None:
    # %252e decodes to the literal text "%2e", which is not a valid segment, never to "."
    with pytest.raises(BadPath):
        split_path("/t1/300x/%252e/a.jpg")


@pytest.mark.parametrize("rel", ["1/3/1335478295542.jpg", "a/_/a.jpg", "x/_/x"])
def test_magento_dispersion_paths_are_valid_keys(rel: str) -> None:
    # Magento files `a.jpg` under `a/_/`: the second character `.` becomes `_`
    assert parse_rel(rel) == rel
