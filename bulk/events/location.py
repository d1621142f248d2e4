"""Bucket keys in events ↔ the keys Storage takes.

S3 events name the whole bucket key (`media/t1/full/a/b/x.jpg` under the storage URL
`s3://shop/media`); Storage adds and strips that prefix itself, so the worker maps an
event's key back to the storage key before asking the layouts what it is, and ignores
other buckets and keys outside the prefix (a bucket may notify about much more).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bulk.plan import INVALID_PATH
from config.storageurl import S3Location, parse_storage_url
from layouts import SiteLayout, valid_rel
from resize import is_image_name


@dataclass(frozen=True)
class Location:
    """Where storage keys live in the bucket: `bucket` None for a file: storage (events
    for it can only be injected, so any bucket name is taken)."""

    bucket: str | None
    prefix: str = ""

    @classmethod
    def of(cls, storage_url: str) -> Location:
        location = parse_storage_url(storage_url)
        if isinstance(location, S3Location):
            return cls(location.bucket, location.prefix)
        return cls(None)

    def storage_key(self, bucket: str, key: str) -> str | None:
        """The storage key of an event's (bucket, key), or None when it is not ours."""
        if self.bucket is not None and bucket != self.bucket:
            return None
        if not key.startswith(self.prefix):
            return None
        return key[len(self.prefix) :]

    def bucket_key(self, key: str) -> tuple[str, str]:
        """(bucket, full key) of a storage key, as an S3 event would name it."""
        return self.bucket or "", self.prefix + key


def refused_original(layouts: Iterable[SiteLayout], key: str) -> str | None:
    """Why a storage key in a site's originals, with an image suffix, is still no
    original (a space, `%ZZ`, a non-ASCII letter...), or None when it is one or is not
    in any site's originals at all. Such a key gets no sizes; the worker says so."""
    for layout in layouts:
        if not key.startswith(layout.originals_prefix):
            continue
        rel = key[len(layout.originals_prefix) :]
        if rel.split("/", 1)[0] in layout.not_originals or not is_image_name(rel):
            continue
        if not valid_rel(rel):
            return INVALID_PATH
    return None
