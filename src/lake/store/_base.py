"""The object-store contract shared by every backend: result types, the protocol, argument checks.

Public names are re-exported by `lake.store`; import them from there.
"""

from __future__ import annotations

import abc
import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lake.exceptions import InvalidArgumentValue

if TYPE_CHECKING:  # pyarrow is only needed by the callers of arrow_filesystem() and read_parquet()
    import pyarrow
    import pyarrow.compute
    import pyarrow.fs

#: The version id S3 reports for an object written while versioning was off (and the local backend for a
#: file that was put in the folder by something other than the store).
NULL_VERSION = "null"

#: Presigned URLs: SigV4 allows at most 7 days.
MAX_PRESIGNED_SECONDS = 7 * 24 * 3600

_MAX_KEY_BYTES = 1024
_RESERVED_TOP = ".tickerlake"
_CONTROL_OR_BACKSLASH = re.compile(r"[\x00-\x1f\x7f\\]")
# S3 object tags: at most 10, key <= 128 and value <= 256 characters from this set (AWS docs, "Tagging").
_TAG_CHARS = re.compile(r"[\w .:+=@/\-]*", re.ASCII)
_MAX_TAGS = 10
# User metadata travels as HTTP headers: lower-case names, printable ASCII values, 2 KB in total.
_META_NAME = re.compile(r"[a-z0-9][a-z0-9\-]{0,127}")
_META_VALUE = re.compile(r"[\x20-\x7e]*")
_MAX_META_BYTES = 2048


@dataclass(frozen=True)
class ObjectInfo:
    """What the store knows about one version of one object.

    `metadata` is filled by `head()` and `list_versions()`; `list()` leaves it empty (S3 does not return
    metadata in listings; call `head()` for it).
    """

    key: str
    version_id: str
    size: int
    last_modified: dt.datetime
    metadata: dict[str, str] = field(default_factory=dict)
    is_latest: bool = True
    etag: str | None = None


@dataclass(frozen=True)
class StoredObject:
    info: ObjectInfo
    data: bytes


@dataclass(frozen=True)
class PutResult:
    key: str
    version_id: str


class ObjectStore(abc.ABC):
    """A versioned object store holding the lake; keys are relative to the lake root (`raw/...`).

    Every capability the lake uses is declared here; a backend implements all of them (no probing).
    Conditional writes: `put(..., if_match=etag)` writes only while the key's latest version still has
    that ETag, `put(..., if_none_match=True)` only while the key does not exist; otherwise
    `PreconditionFailed`. That is the compare-and-swap a read-modify-write of a month object needs.
    """

    uri: str

    @abc.abstractmethod
    def put(
        self,
        key: str,
        data: bytes,
        *,
        metadata: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        content_type: str | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> PutResult: ...

    @abc.abstractmethod
    def get(self, key: str, version_id: str | None = None) -> StoredObject: ...

    @abc.abstractmethod
    def head(self, key: str, version_id: str | None = None) -> ObjectInfo: ...

    def exists(self, key: str) -> bool:
        from lake.exceptions import ObjectNotFound

        try:
            self.head(key)
        except ObjectNotFound:
            return False
        return True

    def read_parquet(
        self,
        key: str,
        version_id: str | None = None,
        *,
        columns: Sequence[str] | None = None,
        filter: pyarrow.compute.Expression | None = None,  # noqa: A002 - pyarrow's own name for it
    ) -> pyarrow.Table:
        """One version of a Parquet object (latest, or `version_id`), as a table: only `columns` (those the
        file has) and only the row groups and rows `filter` can match.

        Every byte comes from that one version, even while a writer replaces the key: a reader never mixes
        the footer of one version with the pages of the next (what a ranged reader of the latest key could
        do on S3). This default downloads the version whole (one GET) and decodes it in memory.
        """
        import pyarrow as pa

        stored = self.get(key, version_id)
        return _decode_parquet(key, pa.BufferReader(stored.data), columns, filter)

    @abc.abstractmethod
    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """The latest version of every key under `prefix`, in key order (metadata left empty)."""

    def list_keys(self, prefix: str, *, descend: Callable[[str], bool] | None = None) -> list[str]:
        """The keys under `prefix`, sorted. `descend(folder)` may skip folders in a backend that walks
        folders (LocalStore); a backend that lists by prefix ignores it, so callers still filter keys."""
        return [info.key for info in self.list(prefix)]

    @abc.abstractmethod
    def list_versions(self, key: str) -> list[ObjectInfo]:
        """Every version of the key, newest first, with metadata."""

    @abc.abstractmethod
    def get_tags(self, key: str, version_id: str | None = None) -> dict[str, str]: ...

    @abc.abstractmethod
    def delete(self, key: str) -> None: ...

    @abc.abstractmethod
    def presigned_url(self, key: str, expires_in_seconds: int) -> str: ...

    @abc.abstractmethod
    def initialize(self) -> list[str]: ...

    @abc.abstractmethod
    def arrow_filesystem(self) -> tuple[pyarrow.fs.FileSystem, str]:
        """(a pyarrow filesystem, the lake root's path in it): how Parquet readers reach the objects."""


def _decode_parquet(
    key: str,
    source: object,
    columns: Sequence[str] | None,
    filter: pyarrow.compute.Expression | None,  # noqa: A002
) -> pyarrow.Table:
    """The table of a Parquet file already opened on one version; LakeError if it is not Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lake.exceptions import LakeError

    try:
        parquet = pq.ParquetFile(source)
        names = parquet.schema_arrow.names
        wanted = names if columns is None else [name for name in columns if name in names]
        if filter is None:
            return parquet.read(columns=wanted)
        import pyarrow.dataset as ds

        fragment = ds.ParquetFileFormat().make_fragment(source)
        return fragment.to_table(columns=wanted, filter=filter, schema=parquet.schema_arrow)
    except (pa.ArrowInvalid, OSError) as exc:
        raise LakeError(f"{key} is not readable Parquet: {exc}") from exc


def check_key(key: object) -> str:
    """Return the key if it is a safe relative object key; raise InvalidArgumentValue naming it otherwise.

    Refused: empty, absolute, backslashes or control characters, empty/`.`/`..` segments, a trailing
    slash, keys over 1024 bytes, and the local backend's reserved `.tickerlake/` area.
    """
    shown = repr(key) if len(repr(key)) <= 80 else repr(key)[:80] + "..."
    if not isinstance(key, str) or not key:
        raise InvalidArgumentValue(f"object key {shown} is not valid: expected a non-empty relative key")
    problem = None
    if key.startswith("/") or key.endswith("/"):
        problem = "it starts or ends with '/'"
    elif _CONTROL_OR_BACKSLASH.search(key):
        problem = "it contains a backslash or a control character"
    elif any(part in ("", ".", "..") for part in key.split("/")):
        problem = "it has an empty, '.' or '..' segment"
    elif len(key.encode()) > _MAX_KEY_BYTES:
        problem = f"it is longer than {_MAX_KEY_BYTES} bytes"
    elif key.split("/", 1)[0] == _RESERVED_TOP:
        problem = f"{_RESERVED_TOP}/ is reserved for the store's own bookkeeping"
    if problem:
        raise InvalidArgumentValue(f"object key {shown} is not valid: {problem}")
    return key


def check_data(key: str, data: object) -> bytes:
    """The object's body as bytes; bytes-like only (a str would be silently encoded otherwise)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidArgumentValue(f"data for {key!r} must be bytes, got {type(data).__name__}")
    return bytes(data)


def check_prefix(prefix: object) -> str:
    """A listing prefix: '' (everything) or the start of a valid key."""
    if prefix == "":
        return ""
    if not isinstance(prefix, str):
        raise InvalidArgumentValue(f"prefix {prefix!r} is not valid: expected a string")
    try:  # the rules of a key, a single trailing '/' allowed
        check_key(prefix[:-1] if prefix.endswith("/") else prefix)
    except InvalidArgumentValue:
        raise InvalidArgumentValue(
            f"prefix {prefix!r} is not valid: expected the start of a valid key"
        ) from None
    return prefix


def check_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    """S3's tag rules, applied by every backend so a local lake never accepts what S3 would refuse."""
    tags = dict(tags or {})
    if len(tags) > _MAX_TAGS:
        raise InvalidArgumentValue(f"{len(tags)} tags given: S3 allows at most {_MAX_TAGS} per object")
    for name, value in tags.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidArgumentValue(f"tag {name!r}={value!r} is not valid: names and values are strings")
        if not 1 <= len(name) <= 128 or len(value) > 256:
            raise InvalidArgumentValue(
                f"tag {name!r}={value!r} is not valid: name 1-128 characters, value at most 256"
            )
        if not _TAG_CHARS.fullmatch(name) or not _TAG_CHARS.fullmatch(value):
            raise InvalidArgumentValue(
                f"tag {name!r}={value!r} is not valid: only letters, digits, spaces and + - = . _ : / @"
            )
    return tags


def check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """User metadata: lower-case dashed names, printable ASCII values, 2 KB in total (an HTTP header limit)."""
    metadata = dict(metadata or {})
    total = 0
    for name, value in metadata.items():
        if not isinstance(name, str) or not _META_NAME.fullmatch(name):
            raise InvalidArgumentValue(
                f"metadata name {name!r} is not valid: expected lower-case letters, digits and '-'"
            )
        if not isinstance(value, str) or not _META_VALUE.fullmatch(value):
            raise InvalidArgumentValue(
                f"metadata {name!r}={value!r} is not valid: the value must be printable ASCII text"
            )
        total += len(name) + len(value)
    if total > _MAX_META_BYTES:
        raise InvalidArgumentValue(f"metadata is {total} bytes: S3 allows at most {_MAX_META_BYTES}")
    return metadata


def check_expiry(expires_in_seconds: object) -> int:
    if (
        isinstance(expires_in_seconds, bool)
        or not isinstance(expires_in_seconds, int)
        or not 1 <= expires_in_seconds <= MAX_PRESIGNED_SECONDS
    ):
        raise InvalidArgumentValue(
            f"expiry {expires_in_seconds!r} is not valid: expected 1 to {MAX_PRESIGNED_SECONDS} seconds"
        )
    return expires_in_seconds
