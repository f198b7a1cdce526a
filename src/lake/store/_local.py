"""LocalStore: the lake in a local folder, with S3's semantics emulated.

Layout of the folder (the lake root)::

    <root>/<key>                                  the latest version: a real file, what globs and DuckDB see
    <root>/.tickerlake/store.json                 written by initialize(): the sidecar format
    <root>/.tickerlake/tmp/<pid>-<hex>.tmp        in-flight writes (never under a data prefix)
    <root>/.tickerlake/versions/<h2>/<h>/         one folder per key, h = sha256(key)
        lock                                      flock()ed by the writers of that key
        <version id>.json                         version record: size, md5, sha256, metadata, tags, and the
                                                  identity (device, inode, size, mtime) of the file published
        <version id>.data                         that version's bytes: a copy of its own, so that nothing done
                                                  to the visible file can change a stored version
        <version id>.delete                       a delete marker (delete() of a cache entry)

A version id is `<UTC time to the nanosecond>Z-<12 hex>` (`20261128T211739123456789Z-3f9a1c2b7d4e`): it sorts
in write order, and within one key it is strictly increasing because it is taken under the key's lock.

A put writes the bytes to a temp file and fsyncs it outside the lock; then, holding the key's lock, it
writes a copy as `<vid>.data`, writes `<vid>.json` (with the temp file's identity), and renames the temp
file over `<root>/<key>`. That rename is the commit point: the latest version is *whichever version the
real file is* (the identity its record holds, or the same sha256 if the folder was copied). A visible file
changed in place (truncated, edited) is no version's any more: it reads as a file the store did not write,
is adopted as a new version by the next write, and every stored version stays as it was. A writer killed before the rename leaves
only a temp file and possibly a version record newer than the published file; readers ignore such
records and the next writer of the key removes them. Two writers of one key (threads or processes) are
serialised by the lock and both kept as versions; the later one is the latest.

A conditional put (`if_match=<etag>` / `if_none_match=True`) checks the key's current version under the
same lock, before anything is linked: the compare-and-swap S3 does with `If-Match` / `If-None-Match`. The
ETag of a version is the MD5 of its bytes, as S3 reports it for a single PUT.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import re
import secrets
import stat
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from lake.exceptions import InvalidArgumentValue, ObjectNotFound, PreconditionFailed, StoreUnavailable
from lake.store._base import (
    NULL_VERSION,
    ObjectInfo,
    ObjectStore,
    PutResult,
    StoredObject,
    check_data,
    check_expiry,
    check_key,
    check_metadata,
    check_prefix,
    check_tags,
)

try:  # POSIX advisory locks; the local backend needs them for concurrent writers
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("tickerlake.lake.store")

SIDECAR = ".tickerlake"
FORMAT_VERSION = 1
_VID_RE = re.compile(r"\d{8}T\d{6}\d{9}Z-[0-9a-f]{12}")
_STALE_TEMP_SECONDS = 3600


def _record(
    key: str,
    data: bytes,
    content_type: str | None,
    metadata: Mapping[str, str] | None,
    tags: Mapping[str, str] | None,
) -> dict[str, Any]:
    """The version record of `data` under `key` (without its version id): size, digests, labels checked."""
    return {
        "key": key,
        "size": len(data),
        "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "content_type": content_type,
        "metadata": check_metadata(metadata),
        "tags": check_tags(tags),
    }


def _identity(stat_result: os.stat_result) -> list[int]:
    """What identifies one published file: device, inode, size and modification time (ns)."""
    return [stat_result.st_dev, stat_result.st_ino, stat_result.st_size, stat_result.st_mtime_ns]


def new_version_id(after: str | None = None) -> str:
    """A sortable unique version id, strictly after `after` (the key's newest id) when given."""
    ns = time.time_ns()
    if after is not None:
        ns = max(ns, version_ns(after) + 1)
    seconds, nanos = divmod(ns, 1_000_000_000)
    stamp = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}{nanos:09d}Z-{secrets.token_hex(6)}"


def version_ns(version_id: str) -> int:
    when = dt.datetime.strptime(version_id[:15], "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)
    return int(when.timestamp()) * 1_000_000_000 + int(version_id[15:24])


def _version_time(version_id: str) -> dt.datetime:
    seconds, nanos = divmod(version_ns(version_id), 1_000_000_000)
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(microsecond=nanos // 1000)


class LocalStore(ObjectStore):
    """The object-store protocol over a local folder (see the module docstring for the layout).

    Parameters
    ----------
    root:
        The lake folder; created by `initialize()` or by the first write.
    durable:
        fsync files and folders before a write returns (default). Off only for throwaway lakes.
    lock_timeout:
        Seconds a writer waits for another writer of the same key before giving up (StoreUnavailable).

    Examples
    --------
    >>> store = LocalStore("/tmp/lake")  # doctest: +SKIP
    >>> store.put("cache/reports/NVDA/2025-01-02/report.json", b"{}").version_id  # doctest: +SKIP
    '20250102T101112123456789Z-0a1b2c3d4e5f'
    """

    def __init__(self, root: str | os.PathLike[str], *, durable: bool = True, lock_timeout: float = 60.0):
        if fcntl is None:  # pragma: no cover
            raise StoreUnavailable("the local lake backend needs POSIX file locks (Linux or macOS)")
        self.root = Path(root).expanduser().resolve()
        if (self.root / "__init__.py").exists():
            raise InvalidArgumentValue(
                f"lake folder {str(self.root)!r} is not valid: it is a Python package (it has __init__.py); "
                "choose another lake URI (TICKERLAKE_LAKE_URI or --lake)"
            )
        self.uri = self.root.as_uri()
        self.durable = durable
        self.lock_timeout = lock_timeout
        self._sidecar = self.root / SIDECAR
        self._tmp = self._sidecar / "tmp"
        self._versions = self._sidecar / "versions"

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    # ------------------------------------------------------------------ writes

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
    ) -> PutResult:
        key = check_key(key)
        data = check_data(key, data)
        if if_match is not None and if_none_match:
            raise InvalidArgumentValue(f"put {key!r}: if_match and if_none_match exclude each other")
        record = _record(key, data, content_type, metadata, tags)
        real = self.root / key
        self._make_parent(key, real)
        temp = self._write_temp(data)
        published = _identity(os.stat(temp))  # what the real file will be once the temp file is renamed
        try:
            with self._locked(key) as kdir:
                newest = self._prepare(key, kdir)
                if if_match is not None or if_none_match:
                    self._check_precondition(key, if_match, if_none_match)
                version_id = new_version_id(after=newest)
                record["version_id"] = version_id
                record["published"] = published
                data_path = kdir / f"{version_id}.data"
                try:
                    self._write_copy(data, data_path)
                    self._write_json(kdir / f"{version_id}.json", record)
                    self._fsync_dir(kdir)
                    os.replace(temp, real)  # the commit point
                except OSError as exc:
                    for name in (f"{version_id}.json", f"{version_id}.data"):
                        (kdir / name).unlink(missing_ok=True)
                    raise self._os_error(key, exc) from exc
                self._fsync_dir(real.parent)
        finally:
            temp.unlink(missing_ok=True)
        return PutResult(key=key, version_id=version_id)

    def _check_precondition(self, key: str, if_match: str | None, if_none_match: bool) -> None:
        """Under the key's lock: PreconditionFailed unless the key is absent (if_none_match) or its latest
        version has the ETag `if_match`."""
        try:
            current = self.head(key).etag
        except ObjectNotFound:
            current = None
        if if_none_match and current is not None:
            raise PreconditionFailed(f"{key} in {self.uri} exists already (another writer went first)")
        if if_match is not None and current != if_match.strip('"'):
            raise PreconditionFailed(
                f"{key} in {self.uri} changed since it was read (ETag {if_match} expected, found {current})"
            )

    def delete(self, key: str) -> None:
        """Hide the key behind a delete marker (S3 semantics); its versions stay readable by id."""
        key = check_key(key)
        real = self.root / key
        with self._locked(key) as kdir:
            newest = self._prepare(key, kdir)
            if not real.is_file():
                return
            version_id = new_version_id(after=newest)
            self._write_json(kdir / f"{version_id}.delete", {"key": key, "version_id": version_id})
            self._fsync_dir(kdir)
            real.unlink()  # the commit point
            self._fsync_dir(real.parent)

    # ------------------------------------------------------------------ reads

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo:
        info, _record, _path = self._find(check_key(key), version_id)
        return info

    def get(self, key: str, version_id: str | None = None) -> StoredObject:
        info, _record, path = self._find(check_key(key), version_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # replaced between head and read: an unversioned file only
            raise ObjectNotFound(f"{key} (version {version_id or 'latest'}) does not exist") from None
        return StoredObject(info=info, data=data)

    def read_parquet(self, key, version_id=None, *, columns=None, filter=None):  # noqa: A002
        """The Parquet object read in place (memory-mapped): the latest version is the visible file, an
        older one its own copy in the sidecar. One open file is one inode, so a writer renaming a new
        version over the key while this reads cannot mix versions."""
        import pyarrow as pa

        from lake.store._base import _decode_parquet

        key = check_key(key)
        if version_id is None:
            path = self.root / key
        else:
            _info, _record, path = self._find(key, version_id)
        try:
            source = pa.memory_map(str(path))
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(
                f"{key} (version {version_id or 'latest'}) does not exist in {self.uri}"
            ) from None
        with source:
            return _decode_parquet(key, source, columns, filter)

    def exists(self, key: str) -> bool:
        try:
            self.head(key)
        except ObjectNotFound:
            return False
        return True

    def get_tags(self, key: str, version_id: str | None = None) -> dict[str, str]:
        _info, record, _path = self._find(check_key(key), version_id)
        return dict(record.get("tags") or {})

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """The latest version of every key starting with `prefix`, in key order (metadata left empty)."""
        prefix = check_prefix(prefix)
        start = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        keys = sorted(key for key in self._walk(start) if key.startswith(prefix))
        for key in keys:
            try:
                info, _record, _path = self._find(key, None)
            except ObjectNotFound:  # deleted while we were listing
                continue
            yield ObjectInfo(
                key=info.key,
                version_id=info.version_id,
                size=info.size,
                last_modified=info.last_modified,
                etag=info.etag,
            )

    def list_keys(self, prefix: str, *, descend: Callable[[str], bool] | None = None) -> list[str]:
        """The keys `list(prefix)` would yield, in key order, without resolving their versions.

        The real file at `<root>/<key>` *is* the latest version, so its presence is the key's: a walk of the
        folder answers, with no per-key version lookup (what partition pruning and history reads need).
        `descend(folder)` (a key prefix ending in '/') may skip a folder and all under it: how a query
        reads only the partition folders its WHERE clause can match (Athena's partition projection)."""
        prefix = check_prefix(prefix)
        start = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        return sorted(key for key in self._walk(start, descend) if key.startswith(prefix))

    def list_folders(self, prefix: str) -> list[str]:
        """The names of the folders directly under `prefix` (a key prefix ending in '/'), sorted."""
        prefix = check_prefix(prefix)
        try:
            with os.scandir(self.root / prefix) as listing:
                return sorted(
                    e.name for e in listing if e.is_dir(follow_symlinks=False) and e.name != SIDECAR
                )
        except (FileNotFoundError, NotADirectoryError):
            return []

    def list_versions(self, key: str) -> list[ObjectInfo]:
        """Every version of the key, newest first, with metadata; delete markers are not listed."""
        key = check_key(key)
        kdir = self._key_dir(key)
        real_stat = self._stat(self.root / key)
        entries, current = self._resolve(key, kdir, real_stat)
        versions = []
        if current == NULL_VERSION and real_stat is not None:
            versions.append(self._unversioned_info(key, real_stat))
        for version_id, kind in entries:
            if kind == "version":
                record = self._read_record(kdir, version_id, missing_ok=True)
                if record is not None:  # a damaged record is skipped (and logged), not fatal
                    versions.append(self._info(record, is_latest=version_id == current))
        return versions

    # ------------------------------------------------------------------ lake-level operations

    def presigned_url(self, key: str, expires_in_seconds: int) -> str:
        """A file:// URI of the latest version (a local file does not expire; the argument is checked)."""
        check_expiry(expires_in_seconds)
        return (self.root / check_key(key)).as_uri()

    def initialize(self) -> list[str]:
        """Create the lake folder and its sidecar; remove temp files left by killed writers. Idempotent."""
        done = []
        if self.root.is_dir():
            done.append(f"lake folder {self.root} exists")
        else:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                blocker = next(
                    (p for p in (self.root, *self.root.parents) if p.exists() and not p.is_dir()), None
                )
                raise InvalidArgumentValue(
                    f"lake folder {str(self.root)!r} is not valid: {str(blocker or self.root)!r} is a file, "
                    "not a folder"
                ) from None
            except PermissionError as exc:
                raise StoreUnavailable(
                    f"lake folder {str(self.root)!r} cannot be created: {exc.strerror}"
                ) from None
            done.append(f"created lake folder {self.root}")
        for folder in (self._tmp, self._versions):
            folder.mkdir(parents=True, exist_ok=True)
        marker = self._sidecar / "store.json"
        if not marker.exists():
            self._write_json(marker, {"format": FORMAT_VERSION, "backend": "local"})
            done.append(f"created version store {self._sidecar} (format {FORMAT_VERSION})")
        else:
            found = json.loads(marker.read_text()).get("format")
            if found != FORMAT_VERSION:
                raise StoreUnavailable(
                    f"{marker} says format {found!r}; this tickerlake reads format {FORMAT_VERSION}"
                )
            done.append(f"version store {self._sidecar} exists (format {FORMAT_VERSION})")
        cutoff = time.time() - _STALE_TEMP_SECONDS
        stale = [p for p in self._tmp.iterdir() if p.is_file() and p.stat().st_mtime < cutoff]
        for path in stale:
            path.unlink(missing_ok=True)
        if stale:
            done.append(f"removed {len(stale)} temp file(s) left by interrupted writes")
        return done

    def arrow_filesystem(self) -> tuple[Any, str]:
        import pyarrow.fs

        return pyarrow.fs.LocalFileSystem(), self.root.as_posix()

    # ------------------------------------------------------------------ internals: resolution

    def _key_dir(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self._versions / digest[:2] / digest

    @staticmethod
    def _stat(path: Path) -> os.stat_result | None:
        try:
            result = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return result if stat.S_ISREG(result.st_mode) else None

    def _resolve(
        self, key: str, kdir: Path, real_stat: os.stat_result | None
    ) -> tuple[list[tuple[str, str]], str | None]:
        """(committed entries newest first as (version id, "version"|"marker"), the current version).

        The current version is the version id the real file is, NULL_VERSION for a file the store did not
        write, or None when the key is absent. `real_stat` must be taken *before* this lists the records:
        a record is always written before its file is published, so the listing then contains it.
        """
        entries = []
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(kdir):
                stem, _, suffix = name.partition(".")
                if _VID_RE.fullmatch(stem) and suffix in ("json", "delete"):
                    entries.append((stem, "version" if suffix == "json" else "marker"))
        entries.sort(reverse=True)
        if real_stat is None:
            markers = [vid for vid, kind in entries if kind == "marker"]
            return ([e for e in entries if e[0] <= markers[0]] if markers else []), None
        current = self._identify(key, kdir, entries, real_stat)
        if current == NULL_VERSION:
            return entries, current
        return [e for e in entries if e[0] <= current], current

    def _identify(
        self, key: str, kdir: Path, entries: list[tuple[str, str]], real_stat: os.stat_result
    ) -> str:
        versions = [vid for vid, kind in entries if kind == "version"]
        identity = _identity(real_stat)
        for vid in versions:  # the real file is the file its record says was published
            record = self._read_record(kdir, vid, missing_ok=True)
            if record is None:
                continue
            if "published" in record:
                if record["published"] == identity:
                    return vid
                continue
            data_stat = self._stat(kdir / f"{vid}.data")  # a lake written before copies: a hard link
            if data_stat and (data_stat.st_dev, data_stat.st_ino) == (real_stat.st_dev, real_stat.st_ino):
                return vid
        if versions:  # copied without hard links: compare the bytes
            try:
                digest = hashlib.sha256((self.root / key).read_bytes()).hexdigest()
            except FileNotFoundError:
                digest = None
            for vid in versions:
                record = self._read_record(kdir, vid, missing_ok=True)
                if record and record.get("sha256") == digest:
                    return vid
        return NULL_VERSION

    def _find(self, key: str, version_id: str | None) -> tuple[ObjectInfo, dict[str, Any], Path]:
        kdir = self._key_dir(key)
        real = self.root / key
        real_stat = self._stat(real)
        entries, current = self._resolve(key, kdir, real_stat)
        missing = ObjectNotFound(f"{key} (version {version_id or 'latest'}) does not exist in {self.uri}")
        wanted = current if version_id is None else version_id
        if wanted is None:
            raise missing
        if wanted == NULL_VERSION:
            if current != NULL_VERSION or real_stat is None:
                raise missing
            return self._unversioned_info(key, real_stat), {"tags": {}}, real
        if not isinstance(wanted, str) or (wanted, "version") not in entries:
            raise missing
        record = self._read_record(kdir, wanted, missing_ok=True)
        if record is None:
            raise missing
        return self._info(record, is_latest=wanted == current), record, kdir / f"{wanted}.data"

    def _read_record(self, kdir: Path, version_id: str, *, missing_ok: bool = False) -> dict[str, Any] | None:
        """A version record; None for a missing one (with `missing_ok`) or a damaged one (logged, naming
        the file: the other versions stay readable)."""
        path = kdir / f"{version_id}.json"
        try:
            record = json.loads(path.read_text())
            if not isinstance(record, dict) or record.get("version_id") != version_id:
                raise ValueError("not this version's record")
            return record
        except FileNotFoundError:
            if missing_ok:
                return None
            raise
        except (ValueError, UnicodeDecodeError) as exc:
            logger.warning(
                "damaged version record skipped: the other versions stay readable",
                extra={"path": str(path), "error": str(exc)},
            )
            return None

    @staticmethod
    def _info(record: dict[str, Any], *, is_latest: bool) -> ObjectInfo:
        return ObjectInfo(
            key=record["key"],
            version_id=record["version_id"],
            size=record["size"],
            last_modified=_version_time(record["version_id"]),
            metadata=dict(record.get("metadata") or {}),
            is_latest=is_latest,
            etag=record.get("md5"),
        )

    @staticmethod
    def _unversioned_info(key: str, real_stat: os.stat_result) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            version_id=NULL_VERSION,
            size=real_stat.st_size,
            last_modified=dt.datetime.fromtimestamp(real_stat.st_mtime, dt.UTC),
        )

    def _walk(self, start: Path, descend: Callable[[str], bool] | None = None) -> Iterator[str]:
        """Keys of the real files under `start` (the sidecar skipped), in no particular order."""
        return (key for key, _ in self._walk_entries(start, descend))

    def _walk_entries(
        self, start: Path, descend: Callable[[str], bool] | None = None
    ) -> Iterator[tuple[str, os.DirEntry]]:
        """(key, directory entry) of the real files under `start` (the sidecar skipped), in no order.

        Plain strings and os.scandir, not pathlib: a listing of a long history walks tens of thousands of
        folders, and Path objects cost more than the system calls."""
        root = self.root.as_posix()
        skip = self._sidecar.as_posix()
        cut = len(root) + 1
        stack = [start.as_posix()]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as listing:
                    entries = list(listing)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                path = entry.path
                if path == skip:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if descend is None or descend(path[cut:] + "/"):
                        stack.append(path)
                elif entry.is_file():
                    with contextlib.suppress(InvalidArgumentValue):
                        yield check_key(path[cut:]), entry

    # ------------------------------------------------------------------ internals: writing

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[Path]:
        """Hold the key's writer lock. flock() on a fresh descriptor excludes threads and processes alike,
        and the kernel releases it when a writer dies."""
        kdir = self._key_dir(key)
        kdir.mkdir(parents=True, exist_ok=True)
        fd = os.open(kdir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + self.lock_timeout
            pause = 0.001
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise StoreUnavailable(
                            f"{key} in {self.uri}: another writer held its lock for over {self.lock_timeout}s"
                        ) from None
                    time.sleep(pause)
                    pause = min(pause * 2, 0.05)
            yield kdir
        finally:
            os.close(fd)

    def _prepare(self, key: str, kdir: Path, *, sync: bool = True) -> str | None:
        """Under the key's lock: drop what interrupted writers left, adopt a file the store did not write as
        a version (so a put never loses it), and return the newest version id."""
        real = self.root / key
        real_stat = self._stat(real)
        entries, current = self._resolve(key, kdir, real_stat)
        committed = {vid for vid, _kind in entries}
        for name in os.listdir(kdir):
            stem = name.partition(".")[0]
            if _VID_RE.fullmatch(stem) and stem not in committed:
                (kdir / name).unlink(missing_ok=True)
        newest = entries[0][0] if entries else None
        if current == NULL_VERSION and real_stat is not None:
            adopted = new_version_id(after=newest)
            body = real.read_bytes()
            self._write_copy(body, kdir / f"{adopted}.data", sync=sync)
            self._write_json(
                kdir / f"{adopted}.json",
                sync=sync,
                content={
                    **_record(key, body, None, None, None),
                    "version_id": adopted,
                    "adopted": True,
                    "published": _identity(real_stat),
                },
            )
            newest = adopted
        return newest

    def _make_parent(self, key: str, real: Path) -> None:
        try:
            real.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise self._os_error(key, exc) from exc
        if real.is_dir():
            raise InvalidArgumentValue(
                f"object key {key!r} is not valid here: other keys start with {key + '/'!r}, and a local "
                "folder cannot hold both"
            )

    def _write_temp(self, data: bytes, *, sync: bool = True) -> Path:
        self._tmp.mkdir(parents=True, exist_ok=True)
        temp = self._tmp / f"{os.getpid()}-{secrets.token_hex(8)}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb", closefd=False) as handle:
                handle.write(data)
                handle.flush()
                if self.durable and sync:
                    os.fsync(fd)
        except BaseException:
            os.close(fd)
            temp.unlink(missing_ok=True)
            raise
        os.close(fd)
        return temp

    def _write_copy(self, data: bytes, path: Path, *, sync: bool = True) -> None:
        """`data` as a file of its own at `path` (a version's bytes never share the visible file's inode)."""
        temp = self._write_temp(data, sync=sync)
        try:
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)

    def _write_json(self, path: Path, content: dict[str, Any], *, sync: bool = True) -> None:
        temp = self._write_temp(json.dumps(content, sort_keys=True).encode(), sync=sync)
        try:
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)

    def _fsync_dir(self, folder: Path) -> None:
        if not self.durable:
            return
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _os_error(self, key: str, exc: OSError) -> Exception:
        if isinstance(exc, FileExistsError | NotADirectoryError | IsADirectoryError):
            return InvalidArgumentValue(
                f"object key {key!r} is not valid here: a part of its path is already a key in {self.uri}, "
                "and a local folder cannot hold both"
            )
        return StoreUnavailable(f"writing {key} in {self.uri} failed: {exc}")
