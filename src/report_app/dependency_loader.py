"""Load the report bot's third-party libraries (the `[bot]` extra: numpy, pandas, pyarrow, matplotlib,
reportlab, the LINE SDK, …) from a zip in S3.

The Lambda function package holds only the project's modules (`tickerlake deploy package-function`); at
cold start the zip built for the python3.12 runtime by `tickerlake deploy package-deps` is downloaded,
verified, unpacked into `/tmp/python-libs/<version>/` and put on `sys.path`. Only boto3 (the runtime's)
must be importable before: this module imports nothing else outside the standard library.

What the seed system did wrong, and what this module does instead (docs/lambda-dependencies.md):

- it trusted any existing `/tmp/python-libs` folder, even one half-written by a killed process: here the
  archive is unpacked into a temporary folder beside the target, a completion marker is written last and
  the folder is renamed into place, so a folder without the marker is never trusted and leftovers of a
  killed process are removed by the next call;
- it used `extractall` on whatever S3 returned: here the SHA-256 and size recorded by the packager are
  checked, every entry name is checked (no `../`, absolute paths, drive letters, symlinks or special
  files), and the entry count, declared and actually written bytes and compression ratio are bounded;
- one fixed key with no rollback: here keys are versioned (`python-libs/<version>/<name>.zip`) and the
  version comes from `DEPENDENCIES_VERSION` or the pointer object `python-libs/current.json`.

Examples
--------
>>> from report_app.dependency_loader import load_dependencies, resolve_dependencies_key
>>> key = resolve_dependencies_key("my-deploy-bucket")            # doctest: +SKIP
>>> load_dependencies("my-deploy-bucket", key)                     # doctest: +SKIP
PosixPath('/tmp/python-libs/2f9c0d1e4a7b')
"""

import contextlib
import copy
import dataclasses
import errno
import fcntl
import hashlib
import importlib
import json
import logging
import os
import posixpath
import re
import secrets
import shutil
import stat
import sys
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from report_app.settings import DependencySettings

__all__ = [
    "ArchiveTooLarge",
    "ChecksumMismatch",
    "CorruptArchive",
    "DEFAULT_NAME",
    "DEFAULT_PREFIX",
    "DEFAULT_TARGET_DIR",
    "DependencyLoadError",
    "DependencyNotFound",
    "Limits",
    "MARKER_NAME",
    "POINTER_NAME",
    "UnsafeArchive",
    "dependencies_key",
    "load_configured_dependencies",
    "load_dependencies",
    "manifest_key",
    "pointer_key",
    "resolve_dependencies_key",
    "validate_version",
]

logger = logging.getLogger(f"tickerlake.{__name__}")

DEFAULT_TARGET_DIR = "/tmp/python-libs"
DEFAULT_PREFIX = "python-libs"
DEFAULT_NAME = "data-science-libs"
POINTER_NAME = "current.json"
MARKER_NAME = ".tickerlake-dependencies.json"
MARKER_FORMAT = 1

_TMP_PREFIX = ".tmp-"  # everything beside the versions that starts with this is a leftover or in progress
_LOCK_NAME = ".lock"
_CHUNK = 1024 * 1024
_ENTRY_CHUNK = 64 * 1024  # small reads: the read crossing a lying entry's declared size is not its last
_RATIO_MIN_BYTES = 1024 * 1024  # archives inflating to less cannot make a bomb: their ratio is not checked
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_DRIVE_RE = re.compile(r"^[A-Za-z]:")


# --------------------------------------------------------------------------------------------- errors


class DependencyLoadError(Exception):
    """Base class of every error raised while loading the dependencies; nothing was put on sys.path."""


class DependencyNotFound(DependencyLoadError):
    """The zip, its manifest or the `current.json` pointer does not exist (or names no previous version)."""


class UnsafeArchive(DependencyLoadError):
    """An entry would be written outside the target folder, or is a symlink, device or duplicate."""


class ArchiveTooLarge(DependencyLoadError):
    """Too many entries, too many bytes (declared or actually written), too high a compression ratio,
    or not enough free space in the target folder."""


class ChecksumMismatch(DependencyLoadError):
    """The downloaded bytes do not have the SHA-256 / size the packager recorded, or none is recorded."""


class CorruptArchive(DependencyLoadError):
    """Not a readable zip: truncated, bad CRC, unsupported compression or encrypted entries."""


# --------------------------------------------------------------------------------------------- limits


@dataclasses.dataclass(frozen=True)
class Limits:
    """Bounds an archive must stay within.

    Parameters
    ----------
    max_bytes:
        total uncompressed bytes, checked against the declared sizes before anything is written and
        against the bytes actually written while streaming (also the largest archive downloaded).
    max_entries:
        number of entries in the central directory.
    max_ratio:
        declared uncompressed / compressed bytes of the whole archive (if it inflates to 1 MiB or more).
        The report libraries are ~3x (single entries reach 224x: zero-padded shared libraries, which
        is why the ratio is not checked per entry); deflate bombs are ~1000x.
    """

    max_bytes: int = 1024**3
    max_entries: int = 100_000
    max_ratio: float = 100.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Limits":
        """`DEPENDENCIES_MAX_BYTES`, `DEPENDENCIES_MAX_ENTRIES`, `DEPENDENCIES_MAX_RATIO` override the defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field, name, kind in (
            ("max_bytes", "DEPENDENCIES_MAX_BYTES", int),
            ("max_entries", "DEPENDENCIES_MAX_ENTRIES", int),
            ("max_ratio", "DEPENDENCIES_MAX_RATIO", float),
        ):
            raw = env.get(name, "").strip()
            if not raw:
                continue
            try:
                value = kind(raw)
            except ValueError:
                raise ValueError(f"{name} must be a positive number, got {raw!r}") from None
            if value <= 0:
                raise ValueError(f"{name} must be a positive number, got {raw!r}")
            values[field] = value
        return cls(**values)


# ------------------------------------------------------------------------------------------ key layout


def validate_version(version: str) -> str:
    """A version is one key segment and one folder name: letters, digits, `.`, `_`, `-`, at most 64."""
    if not isinstance(version, str) or not _VERSION_RE.match(version):
        raise ValueError(
            f"invalid dependencies version {version!r}: expected 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return version


def _validate_prefix(prefix: str) -> str:
    parts = prefix.strip("/").split("/")
    if not prefix.strip("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid dependencies prefix {prefix!r}: expected e.g. 'python-libs'")
    return "/".join(parts)


def _validate_name(name: str) -> str:
    if not _NAME_RE.match(name or ""):
        raise ValueError(f"invalid dependencies archive name {name!r}: expected e.g. {DEFAULT_NAME!r}")
    return name


def dependencies_key(version: str, *, prefix: str = DEFAULT_PREFIX, name: str = DEFAULT_NAME) -> str:
    """`python-libs/<version>/<name>.zip`: where the packager puts a version and the loader finds it."""
    return f"{_validate_prefix(prefix)}/{validate_version(version)}/{_validate_name(name)}.zip"


def manifest_key(key: str) -> str:
    """The manifest written next to the zip: `<key>.manifest.json`."""
    return f"{key}.manifest.json"


def pointer_key(prefix: str = DEFAULT_PREFIX) -> str:
    """The pointer object naming the current version (and the previous one): `python-libs/current.json`."""
    return f"{_validate_prefix(prefix)}/{POINTER_NAME}"


def _folder_label(key: str, sha256: str) -> str:
    """The folder name under the target dir: the version segment of a versioned key, else the sha."""
    parts = key.split("/")
    if len(parts) >= 3 and parts[-1].endswith(".zip") and _VERSION_RE.match(parts[-2]):
        return parts[-2]
    return f"sha256-{sha256[:16]}"


# ------------------------------------------------------------------------------------------ S3 access


def _s3_client():
    """An S3 client; boto3 itself reads AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 and the credentials."""
    config = botocore.config.Config(
        retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=60
    )
    return boto3.client("s3", config=config)


def _error_code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_not_found(exc: botocore.exceptions.ClientError) -> bool:
    return _error_code(exc) in ("404", "NoSuchKey", "NotFound", "NoSuchBucket")


@contextlib.contextmanager
def _s3_errors(what: str) -> Iterator[None]:
    """botocore errors become DependencyNotFound / DependencyLoadError naming the object."""
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        if _is_not_found(exc):
            raise DependencyNotFound(f"{what} does not exist") from None
        raise DependencyLoadError(f"{what}: S3 refused the request ({_error_code(exc)}): {exc}") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise DependencyLoadError(f"{what}: S3 could not be reached: {exc}") from exc


def _get_json(client, bucket: str, key: str) -> dict[str, Any]:
    what = f"s3://{bucket}/{key}"
    with _s3_errors(what):
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DependencyLoadError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise DependencyLoadError(f"{what} must hold a JSON object, got {type(document).__name__}")
    return document


# ----------------------------------------------------------------------------- version / pointer lookup


@dataclasses.dataclass(frozen=True)
class _Resolved:
    key: str
    version: str
    sha256: str | None


def _resolve(client, bucket: str, prefix: str, version: str | None, name: str) -> _Resolved:
    prefix = _validate_prefix(prefix)
    wanted = version if version is not None else DependencySettings.from_env().version
    if wanted and wanted not in ("current", "previous"):
        return _Resolved(dependencies_key(wanted, prefix=prefix, name=name), wanted, None)
    pointer_name = pointer_key(prefix)
    pointer = _get_json(client, bucket, pointer_name)
    entry: Any = pointer
    if wanted == "previous":
        entry = pointer.get("previous")
        if not entry:
            raise DependencyNotFound(
                f"s3://{bucket}/{pointer_name} records no previous version to roll back to"
            )
    if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
        raise DependencyLoadError(
            f"s3://{bucket}/{pointer_name} has no 'key' for the {wanted or 'current'} version"
        )
    sha = entry.get("sha256")
    return _Resolved(entry["key"], str(entry.get("version", "")), sha if isinstance(sha, str) else None)


def resolve_dependencies_key(
    bucket: str,
    prefix: str = DEFAULT_PREFIX,
    version: str | None = None,
    *,
    name: str = DEFAULT_NAME,
    s3_client=None,
) -> str:
    """The key of the dependencies zip to load.

    Parameters
    ----------
    version:
        a version (`python-libs/<version>/<name>.zip`, no S3 call), `"current"` (the pointer's version) or
        `"previous"` (the pointer's previous version: a rollback without redeploying). `None` reads
        `DEPENDENCIES_VERSION` from the environment; unset or empty means `"current"`.

    Examples
    --------
    >>> resolve_dependencies_key("deploy-bucket", version="2025.01.3")
    'python-libs/2025.01.3/data-science-libs.zip'
    """
    if version is not None and version not in ("current", "previous"):
        return dependencies_key(version, prefix=prefix, name=name)
    return _resolve(s3_client or _s3_client(), bucket, prefix, version, name).key


# ----------------------------------------------------------------------------------- archive checking


@dataclasses.dataclass(frozen=True)
class _Entry:
    info: zipfile.ZipInfo
    parts: tuple[str, ...]
    is_dir: bool


def _safe_parts(name: str) -> tuple[str, ...]:
    if not name or "\x00" in name:
        raise UnsafeArchive(f"entry {name!r} has an empty name or a NUL byte")
    if "\\" in name:
        raise UnsafeArchive(f"entry {name!r} contains a backslash (a Windows path separator)")
    if name.startswith("/"):
        raise UnsafeArchive(f"entry {name!r} is an absolute path")
    if _DRIVE_RE.match(name):
        raise UnsafeArchive(f"entry {name!r} starts with a drive letter")
    parts = tuple(name.rstrip("/").split("/"))
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafeArchive(
                f"entry {name!r} has a '{part}' path segment (would escape or alias the target)"
            )
    if parts == (MARKER_NAME,):
        raise UnsafeArchive(f"entry {name!r} would overwrite the loader's completion marker")
    return parts


def _symlink_error(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> UnsafeArchive:
    target = "?"
    if info.file_size <= 4096:
        with contextlib.suppress(Exception):
            target = zf.read(info).decode("utf-8", "replace")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(info.filename), target))
    outside = target.startswith("/") or resolved == ".." or resolved.startswith("../")
    where = "outside the archive" if outside else "inside the archive"
    return UnsafeArchive(
        f"entry {info.filename!r} is a symbolic link to {target!r} ({where}); symlinks are refused"
    )


def _check_entries(zf: zipfile.ZipFile, limits: Limits) -> tuple[list[_Entry], int]:
    """Every entry is checked before anything is written; returns the plan and the declared total."""
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise ArchiveTooLarge(f"archive has {len(infos)} entries, the limit is {limits.max_entries}")
    entries: list[_Entry] = []
    seen: set[tuple[str, ...]] = set()
    files: set[tuple[str, ...]] = set()
    parents: set[tuple[str, ...]] = set()
    declared = compressed = 0
    for info in infos:
        parts = _safe_parts(info.filename)
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if stat.S_ISLNK(mode):
            raise _symlink_error(zf, info)
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise UnsafeArchive(f"entry {info.filename!r} is a special file (mode {oct(mode)})")
        if info.flag_bits & 0x1:
            raise CorruptArchive(f"entry {info.filename!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise CorruptArchive(
                f"entry {info.filename!r} uses compression method {info.compress_type}; "
                "only stored and deflated are accepted"
            )
        if parts in seen:
            raise UnsafeArchive(f"entry {info.filename!r} appears twice")
        seen.add(parts)
        is_dir = info.filename.endswith("/") or stat.S_ISDIR(mode)
        parents.update(parts[:i] for i in range(1, len(parts)))
        if is_dir:
            parents.add(parts)
            entries.append(_Entry(info, parts, True))
            continue
        files.add(parts)
        declared += info.file_size
        compressed += info.compress_size
        if declared > limits.max_bytes:
            raise ArchiveTooLarge(
                f"archive declares more than {limits.max_bytes} uncompressed bytes "
                f"(reached {declared} at entry {info.filename!r})"
            )
        entries.append(_Entry(info, parts, False))
    clash = files & parents
    if clash:
        raise UnsafeArchive(f"entry {'/'.join(sorted(clash)[0])!r} is both a file and a folder")
    ratio = declared / max(compressed, 1)
    if declared >= _RATIO_MIN_BYTES and ratio > limits.max_ratio:
        raise ArchiveTooLarge(
            f"archive expands {ratio:.0f}x ({compressed} -> {declared} bytes), the limit is {limits.max_ratio:g}x"
        )
    return entries, declared


def _check_free_space(root: Path, needed: int, what: str) -> None:
    free = shutil.disk_usage(root).free
    if needed > free:
        raise ArchiveTooLarge(f"{what} needs {needed} bytes but {root} has only {free} bytes free")


def _extract_entry(zf: zipfile.ZipFile, entry: _Entry, dest: Path, budget: list[int]) -> int:
    """Stream one file, counting the bytes actually written; `budget[0]` is what the archive may still use."""
    # zipfile stops an entry at the size its header declares, so a lying header would go unnoticed: let
    # it read up to the remaining budget instead, and count (and refuse) what the entry really inflates to.
    probe = copy.copy(entry.info)
    probe.file_size = max(entry.info.file_size, budget[0]) + 1
    written = 0
    with zf.open(probe) as source, open(dest, "xb") as out:
        while chunk := source.read(_ENTRY_CHUNK):
            written += len(chunk)
            if written > entry.info.file_size:
                raise ArchiveTooLarge(
                    f"entry {entry.info.filename!r} inflates past its declared {entry.info.file_size} bytes"
                )
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise ArchiveTooLarge("archive inflates past the uncompressed-bytes limit while unpacking")
            out.write(chunk)
    mode = entry.info.external_attr >> 16
    os.chmod(dest, 0o755 if mode & 0o111 else 0o644)
    return written


def _unpack(zip_path: Path, dest_root: Path, limits: Limits) -> tuple[int, int]:
    """Check, then unpack into `dest_root` (created here). Returns (file count, bytes written)."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            entries, declared = _check_entries(zf, limits)
            _check_free_space(dest_root.parent, declared, "unpacking the archive")
            dest_root.mkdir()
            real_root = os.path.realpath(dest_root)
            budget = [limits.max_bytes]
            files = 0
            for entry in entries:
                dest = dest_root.joinpath(*entry.parts)
                if entry.is_dir:
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                if not os.path.realpath(dest).startswith(real_root + os.sep):  # belt and braces
                    raise UnsafeArchive(f"entry {entry.info.filename!r} resolves outside the target folder")
                _extract_entry(zf, entry, dest, budget)
                files += 1
            return files, limits.max_bytes - budget[0]
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise CorruptArchive(f"not a readable zip archive: {exc}") from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise ArchiveTooLarge(f"no space left in {dest_root.parent} while unpacking") from None
        raise


# ------------------------------------------------------------------------------------ marker and lock


def _read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        marker = json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("format") != MARKER_FORMAT:
        return None
    return marker


def _write_marker(folder: Path, marker: Mapping[str, Any]) -> None:
    path = folder / MARKER_NAME
    with open(path, "x", encoding="utf-8") as out:
        json.dump(dict(marker), out, indent=2, sort_keys=True)
        out.flush()
        os.fsync(out.fileno())


@contextlib.contextmanager
def _folder_lock(root: Path) -> Iterator[None]:
    """An exclusive flock on `<root>/.lock`: one loader at a time per folder across processes.

    The kernel releases it when the holder dies, so whoever holds it knows every `.tmp-*` is a leftover.
    """
    fd = os.open(root / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _clean_leftovers(root: Path) -> None:
    for path in root.iterdir():
        if path.name.startswith(_TMP_PREFIX):
            logger.warning("dependencies removed leftover", extra={"path": str(path)})
            _remove(path)


# ---------------------------------------------------------------------------------------- the loader


@dataclasses.dataclass(frozen=True)
class _Loaded:
    path: Path
    version: str


_LOADED: dict[tuple[str, str, str], _Loaded] = {}
_ACTIVE: dict[str, str] = {}  # target root -> the folder of it this process put on sys.path
_RESOLVED: dict[tuple[str, str, str, str, str], _Resolved] = {}
_PROCESS_LOCK = threading.Lock()


def _activate(root: Path, folder: Path) -> None:
    path = str(folder)
    previous = _ACTIVE.get(str(root))
    if previous and previous != path:
        with contextlib.suppress(ValueError):
            sys.path.remove(previous)
        logger.warning(
            "dependencies switched folder: modules already imported stay from the old one until the process "
            "restarts",
            extra={"from_path": previous, "to_path": path},
        )
    if path not in sys.path:
        sys.path.insert(0, path)
        importlib.invalidate_caches()
    _ACTIVE[str(root)] = path


@dataclasses.dataclass(frozen=True)
class _Expected:
    sha256: str
    size: int
    source: str


def _expected(client, bucket: str, key: str, head: Mapping[str, Any], pinned_sha: str | None) -> _Expected:
    """SHA-256 and size from the object's metadata, else from `<key>.manifest.json`; refuse if neither."""
    where = f"s3://{bucket}/{key}"
    metadata = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
    sha, size, source = metadata.get("sha256"), metadata.get("size"), "metadata"
    if not sha:
        try:
            manifest = _get_json(client, bucket, manifest_key(key))
        except DependencyNotFound:
            raise ChecksumMismatch(
                f"{where} has no recorded checksum: neither object metadata 'sha256' nor "
                f"{manifest_key(key)} exists (upload it with `tickerlake deploy package-deps`)"
            ) from None
        sha, size, source = manifest.get("sha256"), manifest.get("size"), "manifest"
    sha = str(sha or "").lower()
    if not _SHA256_RE.match(sha):
        raise ChecksumMismatch(
            f"{where}: the recorded sha256 ({source}) is not a SHA-256 hex digest: {sha!r}"
        )
    try:
        size_value = int(size) if size is not None else int(head["ContentLength"])
    except (TypeError, ValueError):
        raise ChecksumMismatch(f"{where}: the recorded size ({source}) is not a number: {size!r}") from None
    if pinned_sha and pinned_sha.lower() != sha:
        raise ChecksumMismatch(
            f"{where}: the pointer records sha256 {pinned_sha} but the {source} records {sha}"
        )
    if int(head.get("ContentLength", size_value)) != size_value:
        raise ChecksumMismatch(
            f"{where} is {head.get('ContentLength')} bytes but the {source} records {size_value}"
        )
    return _Expected(sha, size_value, source)


def _declared_uncompressed(head: Mapping[str, Any]) -> int:
    """The packager's `uncompressed-size` metadata (0 if absent): only used to make room in advance."""
    metadata = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
    try:
        return max(int(metadata.get("uncompressed-size", 0)), 0)
    except ValueError:
        return 0


def _make_room(root: Path, final: Path, needed: int) -> None:
    """If `root` lacks `needed` bytes, delete other unpacked versions this process is not using.

    Lambda's /tmp is small (512 MB by default) and a sandbox may see a rollback and a roll-forward: the
    version folders it no longer uses are what can go. One process per sandbox, so no one else uses them.
    """
    if shutil.disk_usage(root).free >= needed:
        return
    active = _ACTIVE.get(str(root))
    for folder in sorted(root.iterdir()):
        if folder == final or str(folder) == active or folder.name.startswith(".") or not folder.is_dir():
            continue
        logger.warning("dependencies evicting unused version to free space", extra={"path": str(folder)})
        _remove(folder)
        if shutil.disk_usage(root).free >= needed:
            return


def _download(
    client, bucket: str, key: str, head: Mapping[str, Any], expected: _Expected, dest: Path
) -> None:
    """Stream the object to `dest`, never more than the recorded size, and check its SHA-256."""
    where = f"s3://{bucket}/{key}"
    request: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if head.get("ETag"):
        request["IfMatch"] = head["ETag"]  # the bytes are those of the object we took the checksum from
    digest = hashlib.sha256()
    received = 0
    with _s3_errors(where):
        try:
            body = client.get_object(**request)["Body"]
        except botocore.exceptions.ClientError as exc:
            if _error_code(exc) in ("PreconditionFailed", "412"):
                raise DependencyLoadError(f"{where} was replaced while loading; retry") from None
            raise
        with open(dest, "xb") as out:
            for chunk in body.iter_chunks(_CHUNK):
                received += len(chunk)
                if received > expected.size:
                    raise ChecksumMismatch(f"{where} sent more than the recorded {expected.size} bytes")
                digest.update(chunk)
                out.write(chunk)
    if received != expected.size:
        raise ChecksumMismatch(
            f"{where}: received {received} bytes, the {expected.source} records {expected.size}"
        )
    actual = digest.hexdigest()
    if actual != expected.sha256:
        raise ChecksumMismatch(
            f"{where}: SHA-256 of the downloaded bytes is {actual}, the {expected.source} records {expected.sha256}"
        )


def _load_cold(
    bucket: str, key: str, root: Path, *, pinned_sha: str | None, limits: Limits, client
) -> tuple[_Loaded, str, int]:
    """Returns the loaded folder, how ('load' or 'reuse') and the bytes downloaded."""
    root.mkdir(parents=True, exist_ok=True)
    where = f"s3://{bucket}/{key}"
    with _folder_lock(root):
        _clean_leftovers(root)
        with _s3_errors(where):
            head = client.head_object(Bucket=bucket, Key=key)
        expected = _expected(client, bucket, key, head, pinned_sha)
        label = _folder_label(key, expected.sha256)
        final = root / label
        marker = _read_marker(final)
        if marker and marker.get("sha256") == expected.sha256:
            return _Loaded(final, label), "reuse", 0

        if expected.size > limits.max_bytes:
            raise ArchiveTooLarge(f"{where} is {expected.size} bytes, the limit is {limits.max_bytes}")
        _make_room(root, final, expected.size + _declared_uncompressed(head))
        _check_free_space(root, expected.size, f"downloading {where}")
        token = f"{_TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{label}"
        archive, staging, old = root / f"{token}.zip", root / token, root / f"{token}.old"
        try:
            _download(client, bucket, key, head, expected, archive)
            files, written = _unpack(archive, staging, limits)
            archive.unlink()
            _write_marker(
                staging,
                {
                    "format": MARKER_FORMAT,
                    "bucket": bucket,
                    "key": key,
                    "version": label,
                    "sha256": expected.sha256,
                    "size": expected.size,
                    "checksum_source": expected.source,
                    "etag": head.get("ETag"),
                    "version_id": head.get("VersionId"),
                    "files": files,
                    "uncompressed_bytes": written,
                    "completed_at": datetime.now(UTC).isoformat(),
                },
            )
            if final.exists() or final.is_symlink():
                # an untrusted (no marker) or different folder: move it aside first, rename never merges
                logger.warning(
                    "dependencies replacing folder: no marker or another sha256", extra={"path": str(final)}
                )
                os.rename(final, old)
            os.rename(staging, final)
            fd = os.open(root, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        finally:
            for leftover in (archive, staging, old):
                _remove(leftover)
        return _Loaded(final, label), "load", expected.size


def load_dependencies(
    bucket: str,
    key: str,
    target_dir: str | None = None,
    *,
    expected_sha256: str | None = None,
    limits: Limits | None = None,
    s3_client=None,
) -> Path:
    """Download, verify and unpack s3://bucket/key (unless already done), put it on `sys.path`, return it.

    Parameters
    ----------
    bucket, key:
        the zip written by `tickerlake deploy package-deps` (`python-libs/<version>/<name>.zip`).
    target_dir:
        where versions are unpacked; default `DEPENDENCIES_DIR` or `/tmp/python-libs`. The folder is
        `<target_dir>/<version>` for a versioned key, `<target_dir>/sha256-<16 hex>` otherwise.
    expected_sha256:
        an extra pin (e.g. from the pointer); must equal the recorded checksum.
    limits:
        archive bounds; default `Limits.from_env()`.
    s3_client:
        a boto3 S3 client to use; default one built from the environment.

    Returns
    -------
    pathlib.Path
        the unpacked folder, now first on `sys.path`.

    Raises
    ------
    DependencyNotFound, ChecksumMismatch, UnsafeArchive, ArchiveTooLarge, CorruptArchive,
    DependencyLoadError: nothing is put on `sys.path`, no partial folder is left, and a version unpacked
    before stays usable.

    A second call in the same process is a dictionary look-up (no S3 call). A new process whose folder is
    already unpacked makes one HEAD request and reuses it if the marker's SHA-256 matches.

    Examples
    --------
    >>> load_dependencies("deploy-bucket", "python-libs/2025.01.3/data-science-libs.zip")  # doctest: +SKIP
    PosixPath('/tmp/python-libs/2025.01.3')
    """
    started = time.perf_counter()
    root = Path(target_dir or DependencySettings.from_env().target_dir or DEFAULT_TARGET_DIR).absolute()
    cache_key = (bucket, key, str(root))
    loaded = _LOADED.get(cache_key)
    if loaded is not None:
        _activate(root, loaded.path)
        logger.info(
            "dependencies warm",
            extra={"key": key, "version": loaded.version, "seconds": round(time.perf_counter() - started, 6)},
        )
        return loaded.path
    with _PROCESS_LOCK:
        loaded = _LOADED.get(cache_key)
        if loaded is None:
            loaded, how, received = _load_cold(
                bucket,
                key,
                root,
                pinned_sha=expected_sha256,
                limits=limits or Limits.from_env(),
                client=s3_client or _s3_client(),
            )
            _LOADED[cache_key] = loaded
            logger.info(
                "dependencies cold",
                extra={
                    "how": how,
                    "key": key,
                    "version": loaded.version,
                    "bytes": received,
                    "seconds": round(time.perf_counter() - started, 3),
                    "path": str(loaded.path),
                },
            )
        _activate(root, loaded.path)
    return loaded.path


def load_configured_dependencies(*, target_dir: str | None = None, s3_client=None) -> Path:
    """`load_dependencies` configured by the environment, for the Lambda handler's first lines.

    `DEPENDENCIES_BUCKET` (required), then either `DEPENDENCIES_KEY` (an explicit key) or
    `DEPENDENCIES_PREFIX` (default `python-libs`) + `DEPENDENCIES_VERSION` (a version, `current` or
    `previous`; default the pointer's current version) + `DEPENDENCIES_NAME` (default `data-science-libs`).
    The pointer is read once per process.
    """
    settings = DependencySettings.from_env()
    bucket = settings.bucket
    if not bucket:
        raise DependencyLoadError("DEPENDENCIES_BUCKET is not set: the bucket holding python-libs/")
    explicit = settings.key
    if explicit:
        return load_dependencies(bucket, explicit, target_dir, s3_client=s3_client)
    prefix, version, name = settings.prefix or DEFAULT_PREFIX, settings.version, settings.name or DEFAULT_NAME
    cache_key = (bucket, prefix, version, name, target_dir or "")
    resolved = _RESOLVED.get(cache_key)
    if resolved is None:
        client = s3_client or _s3_client()
        resolved = _resolve(client, bucket, prefix, version, name)
        s3_client = client
        _RESOLVED[cache_key] = resolved
    return load_dependencies(
        bucket, resolved.key, target_dir, expected_sha256=resolved.sha256, s3_client=s3_client
    )
