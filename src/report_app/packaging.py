"""Build the report bot's Lambda packages, and publish them to S3.

Two zips (docs/lambda-dependencies.md):

- the **function package** (`tickerlake deploy package-function`): the project's own modules the handler
  imports (`report_app`, `lake`, `schemas`, `pipelines`, with their fonts and data files), uploaded to the
  fixed key Terraform deploys (`lambda/report_app.zip`, variable `lambda_package_key`);
- the **dependencies zip** (`tickerlake deploy package-deps`): the third-party libraries, which the function
  loads from S3 at cold start (`report_app.dependency_loader`).

The dependencies zip, step by step, each a function:

1. `select_requirements`: the pins to install — by default the `[bot]` extra of the installed `tickerlake`
   (`bot_packages`: what the Lambda imports besides the runtime's boto3) with their versions read from the
   lock (`requirements.lock`, shipped in this package), or a `--requirements` file; transitive dependencies
   are constrained by the lock as well.
2. `install_requirements`: `pip install --target` for the Lambda's Python and platform (binary wheels
   only; python3.12 on Amazon Linux 2023, glibc 2.34), from PyPI or, offline, from a local folder of
   wheels (`--no-index --find-links`).
3. `build_zip`: a deterministic zip (sorted entries, fixed timestamps and modes, no `__pycache__`,
   `*.pyc`, `tests/` folders or `bin/` scripts), and its manifest.
4. `upload_package`: zip + manifest to `s3://bucket/python-libs/<version>/` with SSE AES256 and metadata
   `sha256`/`size`, then the pointer `python-libs/current.json` (keeping `previous`) — last, so a
   reader never sees a pointer to a missing zip.

`promote_version` / `rollback` rewrite the pointer only. `build_function_package` /
`upload_function_package` make and publish the function package.

Examples
--------
>>> from report_app import packaging
>>> build = packaging.build_package(out_dir="dist/lambda-deps")                    # doctest: +SKIP
>>> packaging.upload_package(build, "my-deploy-bucket")["version"]                 # doctest: +SKIP
'3f1c9a0b2d4e'
>>> function = packaging.build_function_package(out_dir="dist/lambda")            # doctest: +SKIP
>>> packaging.upload_function_package(function, "my-deploy-bucket")["key"]        # doctest: +SKIP
'lambda/report_app.zip'
"""

import base64
import dataclasses
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

import botocore.exceptions

from report_app.dependency_loader import (
    DEFAULT_NAME,
    DEFAULT_PREFIX,
    _s3_client,
    dependencies_key,
    manifest_key,
    pointer_key,
    validate_version,
)

__all__ = [
    "DEFAULT_ARCH",
    "DEFAULT_FUNCTION_KEY",
    "DEFAULT_GLIBC",
    "DEFAULT_LOCK",
    "DEFAULT_PYTHON_VERSION",
    "FUNCTION_PACKAGES",
    "LAMBDA_RUNTIME",
    "BuildResult",
    "FunctionBuild",
    "PackagingError",
    "bot_packages",
    "build_function_package",
    "build_package",
    "build_zip",
    "install_requirements",
    "manylinux_platforms",
    "promote_version",
    "read_lock_pins",
    "rollback",
    "select_requirements",
    "upload_function_package",
    "upload_package",
]

#: The Lambda runtime the packages are built for: Python 3.12 on Amazon Linux 2023 (glibc 2.34), where the
#: locked numpy / pyarrow ship wheels (manylinux_2_28). The python3.11 runtime (Amazon Linux 2, glibc 2.26)
#: has none for them. A wheel for a newer glibc than the runtime's installs here but fails to import there,
#: so only manylinux tags up to DEFAULT_GLIBC are selected.
LAMBDA_RUNTIME = "python3.12"
DEFAULT_PYTHON_VERSION = "3.12"
DEFAULT_GLIBC = "2.34"
DEFAULT_ARCH = "x86_64"
#: The lock shipped in this package (a copy of the repository's requirements.lock, `make lock` writes both):
#: the default works from an installed package as from a checkout.
DEFAULT_LOCK = Path(__file__).with_name("requirements.lock")
#: The extra whose requirements are the dependencies zip by default.
BOT_EXTRA = "bot"
DISTRIBUTION = "tickerlake"

#: The project's packages the handler imports (report_app.service imports pipelines.sources.universe);
#: glue, dagster_project and tickerlake_cli stay out.
FUNCTION_PACKAGES = ("report_app", "lake", "schemas", "pipelines")
#: Terraform's `lambda_package_key` default (infra/variables.tf).
DEFAULT_FUNCTION_KEY = "lambda/report_app.zip"
FUNCTION_EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".lock")  # the lock is for the packager, not the function

ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can record: reproducible archives
EXCLUDED_DIRS = frozenset({"__pycache__", "tests"})
EXCLUDED_TOP_LEVEL = frozenset({"bin"})  # console scripts pip writes with --target: not importable
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
MANIFEST_FORMAT = 1
POINTER_FORMAT = 1

_PIN_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*==\s*([^\s;#]+)")
_NAME_ONLY_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*$")


class PackagingError(Exception):
    """The dependencies zip could not be built or published; the message names the input at fault."""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# --------------------------------------------------------------------------------------- requirements


def read_lock_pins(lock: str | os.PathLike[str]) -> dict[str, str]:
    """`name==version` lines of a lock (uv / pip-compile output) as {canonical name: version}."""
    path = Path(lock)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"lock file {path} does not exist") from None
    pins: dict[str, str] = {}
    for line in text.splitlines():
        match = _PIN_RE.match(line)
        if match:
            pins[_canonical(match.group(1))] = match.group(3)
    return pins


def _requirement_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"requirements file {path} does not exist") from None
    lines = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        lines.append(line)
    return lines


def bot_packages(distribution: str = DISTRIBUTION, extra: str = BOT_EXTRA) -> list[str]:
    """Names of the requirements of an extra of the installed distribution (default: tickerlake[bot]).

    Read from the installed metadata, so it is the same from a checkout (editable install) and from a wheel.
    """
    try:
        requires = importlib.metadata.requires(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        raise PackagingError(
            f"the {distribution!r} distribution is not installed: install it, or pass --packages / --requirements"
        ) from None
    names: list[str] = []
    marker = re.compile(rf"""extra\s*==\s*['"]{re.escape(extra)}['"]""")
    for requirement in requires:
        spec, _, markers = requirement.partition(";")
        if not marker.search(markers):
            continue
        name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
        if name and name.group(1) not in names:
            names.append(name.group(1))
    if not names:
        raise PackagingError(
            f"{distribution}[{extra}] has no requirements: is the installed metadata current?"
        )
    return names


def select_requirements(
    packages: Iterable[str] | None = None,
    *,
    requirements_file: str | os.PathLike[str] | None = None,
    lock: str | os.PathLike[str] | None = DEFAULT_LOCK,
) -> list[str]:
    """Exact pins to install: `name==version` for each package (default: `bot_packages()`).

    A package given without a version takes its pin from the lock; one that is neither pinned nor in the
    lock is refused (a Lambda bundle is never resolved to "whatever is newest").
    """
    if requirements_file is not None:
        wanted = _requirement_lines(Path(requirements_file))
        source = str(requirements_file)
    else:
        wanted = list(packages or bot_packages())
        source = "the package list"
    if not wanted:
        raise PackagingError(f"no requirements to package in {source}")
    pins = read_lock_pins(lock) if lock is not None and Path(lock).exists() else {}
    selected: list[str] = []
    for item in wanted:
        pinned = _PIN_RE.match(item)
        if pinned:
            selected.append(f"{pinned.group(1)}{pinned.group(2) or ''}=={pinned.group(3)}")
            continue
        bare = _NAME_ONLY_RE.match(item)
        if not bare:
            raise PackagingError(
                f"requirement {item!r} in {source} is not an exact pin (expected name==version)"
            )
        version = pins.get(_canonical(bare.group(1)))
        if version is None and lock is not None and not Path(lock).exists():
            raise FileNotFoundError(f"lock file {lock} does not exist (needed for the pin of {item!r})")
        if version is None:
            raise PackagingError(
                f"requirement {item!r} has no version and is not pinned in {lock}: pin it as {item}==VERSION"
            )
        selected.append(f"{bare.group(1)}{bare.group(2) or ''}=={version}")
    return selected


def manylinux_platforms(glibc: str = DEFAULT_GLIBC, arch: str = DEFAULT_ARCH) -> list[str]:
    """pip `--platform` tags for every manylinux wheel that runs on that glibc, newest first.

    >>> manylinux_platforms("2.34")[:2]
    ['manylinux_2_34_x86_64', 'manylinux_2_33_x86_64']
    >>> manylinux_platforms("2.19")
    ['manylinux_2_19_x86_64', 'manylinux_2_18_x86_64', 'manylinux_2_17_x86_64', 'manylinux2014_x86_64']
    """
    match = re.fullmatch(r"2\.(\d+)", glibc.strip())
    if not match or int(match.group(1)) < 17:
        raise PackagingError(f"invalid glibc version {glibc!r}: expected 2.N with N >= 17 (e.g. 2.34)")
    if arch not in ("x86_64", "aarch64"):
        raise PackagingError(f"invalid architecture {arch!r}: expected x86_64 or aarch64")
    minor = int(match.group(1))
    return [f"manylinux_2_{m}_{arch}" for m in range(minor, 16, -1)] + [f"manylinux2014_{arch}"]


# ---------------------------------------------------------------------------------------------- pip


def _pip_environment(offline: bool) -> dict[str, str]:
    env = dict(os.environ)
    if offline:  # only the wheelhouse: no index, no find-links from the user's pip configuration
        env["PIP_CONFIG_FILE"] = os.devnull
        for name in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX"):
            env.pop(name, None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def install_requirements(
    requirements: Sequence[str],
    target: str | os.PathLike[str],
    *,
    platforms: Sequence[str],
    python_version: str = DEFAULT_PYTHON_VERSION,
    implementation: str = "cp",
    wheelhouse: str | os.PathLike[str] | None = None,
    constraints: str | os.PathLike[str] | None = None,
) -> None:
    """`pip install --target` binary wheels for the given platform/Python (never this machine's)."""
    if not re.fullmatch(r"3\.\d{1,2}", python_version):
        raise PackagingError(
            f"invalid Python version {python_version!r}: expected e.g. {DEFAULT_PYTHON_VERSION}"
        )
    command = [
        sys.executable, "-m", "pip", "install", "--target", str(target), "--only-binary=:all:",
        "--python-version", python_version, "--implementation", implementation, "--no-compile",
        "--no-input", "--no-warn-script-location", "--progress-bar", "off",
    ]  # fmt: skip
    for platform in platforms:
        command += ["--platform", platform]
    if wheelhouse is not None:
        folder = Path(wheelhouse)
        if not folder.is_dir():
            raise FileNotFoundError(f"wheelhouse {folder} is not a folder")
        command += ["--no-index", "--find-links", str(folder.absolute())]
    if constraints is not None:
        command += ["--constraint", str(constraints)]
    command += list(requirements)
    result = subprocess.run(
        command, capture_output=True, text=True, env=_pip_environment(wheelhouse is not None), check=False
    )
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR:")]
        detail = "; ".join(errors) or result.stderr.strip()[-500:] or f"exit code {result.returncode}"
        hint = ""
        if "No matching distribution" in result.stderr or "Could not find a version" in result.stderr:
            hint = (
                f" (no binary wheel of that version for Python {python_version} on {platforms[0]}"
                f"{' or older' if len(platforms) > 1 else ''}: the {LAMBDA_RUNTIME} Lambda runtime is "
                f"Amazon Linux 2023, glibc {DEFAULT_GLIBC}; pin a version that ships such a wheel, or target "
                "another runtime with --python-version / --glibc / --platform)"
            )
        raise PackagingError(f"pip could not install the requirements: {detail}{hint}")


def _installed_distributions(target: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for metadata in sorted(target.glob("*.dist-info/METADATA")):
        headers = HeaderParser().parsestr(metadata.read_text(encoding="utf-8", errors="replace"))
        if headers.get("Name") and headers.get("Version"):
            found[_canonical(headers["Name"])] = headers["Version"]
    return dict(sorted(found.items()))


# ---------------------------------------------------------------------------------------------- zip


@dataclasses.dataclass(frozen=True)
class ZipStats:
    sha256: str
    size: int
    file_count: int
    uncompressed_size: int


def _files_to_pack(root: Path) -> list[tuple[str, Path]]:
    files: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        top = here == root
        for name in dirnames:  # os.walk does not descend into symlinked folders: refuse them
            if (here / name).is_symlink():
                raise PackagingError(
                    f"{here / name} is a symbolic link: the loader refuses symlinks, remove it"
                )
        dirnames[:] = sorted(
            d for d in dirnames if d not in EXCLUDED_DIRS and not (top and d in EXCLUDED_TOP_LEVEL)
        )
        for name in filenames:
            if name.endswith(EXCLUDED_SUFFIXES):
                continue
            path = here / name
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise PackagingError(f"{path} is a symbolic link: the loader refuses symlinks, remove it")
            if not stat.S_ISREG(mode):
                raise PackagingError(f"{path} is not a regular file")
            files.append((path.relative_to(root).as_posix(), path))
    files.sort(key=lambda item: item[0])
    return files


def build_zip(source: str | os.PathLike[str], zip_path: str | os.PathLike[str]) -> ZipStats:
    """Zip a folder deterministically: same files in, same bytes out (sorted, fixed dates and modes)."""
    root = Path(source)
    files = _files_to_pack(root)
    if not files:
        raise PackagingError(f"nothing to package in {root}")
    return _write_zip(files, Path(zip_path))


def _write_zip(files: Sequence[tuple[str, Path]], destination: Path) -> ZipStats:
    """(entry name, file) pairs, already sorted by name, into a reproducible zip written atomically."""
    partial = destination.with_name(destination.name + ".partial")
    uncompressed = 0
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for name, path in files:
                st = path.stat()
                info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # unix: the mode below is meaningful
                info.external_attr = (stat.S_IFREG | (0o755 if st.st_mode & 0o111 else 0o644)) << 16
                info.file_size = st.st_size
                with open(path, "rb") as src, archive.open(info, "w", force_zip64=st.st_size > 2**31) as dst:
                    shutil.copyfileobj(src, dst, 1024 * 1024)
                uncompressed += st.st_size
        digest = hashlib.sha256()
        with open(partial, "rb") as data:
            while chunk := data.read(1024 * 1024):
                digest.update(chunk)
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    return ZipStats(digest.hexdigest(), destination.stat().st_size, len(files), uncompressed)


# ---------------------------------------------------------------------------------------------- build


@dataclasses.dataclass(frozen=True)
class _ZipBuild:
    """A built zip: the file, its manifest file and the manifest itself."""

    zip_path: Path
    manifest_path: Path
    manifest: dict[str, Any]

    @property
    def sha256(self) -> str:
        return self.manifest["sha256"]


@dataclasses.dataclass(frozen=True)
class BuildResult(_ZipBuild):
    """A built dependencies package."""

    @property
    def version(self) -> str:
        return self.manifest["version"]


def build_package(
    *,
    out_dir: str | os.PathLike[str],
    packages: Iterable[str] | None = None,
    requirements_file: str | os.PathLike[str] | None = None,
    lock: str | os.PathLike[str] | None = DEFAULT_LOCK,
    version: str | None = None,
    name: str = DEFAULT_NAME,
    prefix: str = DEFAULT_PREFIX,
    python_version: str = DEFAULT_PYTHON_VERSION,
    platforms: Sequence[str] | None = None,
    wheelhouse: str | os.PathLike[str] | None = None,
) -> BuildResult:
    """Install the pinned requirements for the Lambda platform and zip them into `<out_dir>/<version>/`.

    `version` defaults to the first 12 hex digits of the zip's SHA-256: the same pins build the same
    version. The manifest (`<name>.zip.manifest.json`) records version, sha256, size, file count,
    uncompressed size, python, platforms, requested pins, installed distributions and built_at.
    """
    if version is not None:
        validate_version(version)
    requirements = select_requirements(packages, requirements_file=requirements_file, lock=lock)
    platform_tags = list(platforms) if platforms else manylinux_platforms()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=out))
    try:
        constraints = None
        if lock is not None and Path(lock).exists():
            # transitive dependencies follow the lock; the requested pins win over it
            requested = {_canonical(_PIN_RE.match(r).group(1)) for r in requirements}
            constraints = work / "constraints.txt"
            constraints.write_text(
                "".join(f"{n}=={v}\n" for n, v in read_lock_pins(lock).items() if n not in requested),
                encoding="utf-8",
            )
        site = work / "site-packages"
        install_requirements(
            requirements,
            site,
            platforms=platform_tags,
            python_version=python_version,
            wheelhouse=wheelhouse,
            constraints=constraints,
        )
        stats = build_zip(site, work / f"{name}.zip")
        final_version = version or stats.sha256[:12]
        key = dependencies_key(final_version, prefix=prefix, name=name)
        manifest = {
            "format": MANIFEST_FORMAT,
            "name": name,
            "version": final_version,
            "key": key,
            "sha256": stats.sha256,
            "size": stats.size,
            "file_count": stats.file_count,
            "uncompressed_size": stats.uncompressed_size,
            "python": python_version,
            "implementation": "cp",
            "platforms": platform_tags,
            "requirements": requirements,
            "installed": _installed_distributions(site),
            "built_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        }
        target = out / final_version
        target.mkdir(exist_ok=True)
        zip_path = target / f"{name}.zip"
        os.replace(work / f"{name}.zip", zip_path)
        manifest_path = target / f"{name}.zip.manifest.json"
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return BuildResult(zip_path, manifest_path, manifest)


# --------------------------------------------------------------------------------------------- upload


def _head(client, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return client.head_object(Bucket=bucket, Key=key)
    except botocore.exceptions.ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def _read_pointer(client, bucket: str, prefix: str) -> dict[str, Any] | None:
    try:
        body = client.get_object(Bucket=bucket, Key=pointer_key(prefix))["Body"].read()
    except botocore.exceptions.ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    try:
        pointer = json.loads(body)
    except ValueError:
        raise PackagingError(f"s3://{bucket}/{pointer_key(prefix)} is not valid JSON") from None
    return pointer if isinstance(pointer, dict) else None


def _entry(pointer: dict[str, Any]) -> dict[str, Any]:
    return {name: pointer.get(name) for name in ("version", "key", "sha256", "size")}


def _write_pointer(client, bucket: str, prefix: str, current: dict[str, Any], previous: dict | None) -> dict:
    pointer = {
        "format": POINTER_FORMAT,
        **_entry(current),
        "previous": _entry(previous) if previous else None,
        "updated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }
    client.put_object(
        Bucket=bucket,
        Key=pointer_key(prefix),
        Body=(json.dumps(pointer, indent=2, sort_keys=True) + "\n").encode(),
        ContentType="application/json",
        ServerSideEncryption="AES256",
        CacheControl="no-cache",
    )
    return pointer


def _set_current(client, bucket: str, prefix: str, new: dict[str, Any]) -> dict[str, Any]:
    current = _read_pointer(client, bucket, prefix)
    if current and current.get("version") == new["version"]:
        previous = current.get("previous")  # re-publishing the current version keeps the rollback target
    else:
        previous = current
    return _write_pointer(client, bucket, prefix, new, previous)


def upload_package(
    build: BuildResult,
    bucket: str,
    *,
    prefix: str = DEFAULT_PREFIX,
    update_pointer: bool = True,
    force: bool = False,
    s3_client=None,
) -> dict[str, Any]:
    """Upload zip + manifest to `s3://bucket/<prefix>/<version>/`, then point `current.json` at them.

    A version is immutable: an existing version with another SHA-256 is refused unless `force`; the
    same bytes are not uploaded twice. Returns the pointer written (or the manifest if not updated).
    """
    client = s3_client or _s3_client()
    manifest = dict(build.manifest)
    key = dependencies_key(manifest["version"], prefix=prefix, name=manifest["name"])
    manifest["key"] = key
    existing = _head(client, bucket, key)
    existing_sha = (existing or {}).get("Metadata", {}).get("sha256")
    if existing is not None and existing_sha != manifest["sha256"] and not force:
        raise PackagingError(
            f"s3://{bucket}/{key} already exists with sha256 {existing_sha or 'unknown'}, not "
            f"{manifest['sha256']}: versions are immutable, choose another --version"
        )
    if existing is None or existing_sha != manifest["sha256"]:
        client.upload_file(
            str(build.zip_path),
            bucket,
            key,
            ExtraArgs={
                "ServerSideEncryption": "AES256",
                "ContentType": "application/zip",
                "Metadata": {
                    "sha256": manifest["sha256"],
                    "size": str(manifest["size"]),
                    "uncompressed-size": str(manifest["uncompressed_size"]),
                    "file-count": str(manifest["file_count"]),
                    "version": manifest["version"],
                    "python": manifest["python"],
                },
            },
        )
    client.put_object(
        Bucket=bucket,
        Key=manifest_key(key),
        Body=(json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode(),
        ContentType="application/json",
        ServerSideEncryption="AES256",
    )
    if not update_pointer:
        return manifest
    return _set_current(client, bucket, prefix, manifest)


def promote_version(
    bucket: str, version: str, *, prefix: str = DEFAULT_PREFIX, name: str = DEFAULT_NAME, s3_client=None
) -> dict[str, Any]:
    """Point `current.json` at an uploaded version (the old current becomes `previous`)."""
    client = s3_client or _s3_client()
    key = dependencies_key(version, prefix=prefix, name=name)
    head = _head(client, bucket, key)
    if head is None:
        raise PackagingError(
            f"s3://{bucket}/{key} does not exist: package and upload version {version} first"
        )
    metadata = head.get("Metadata", {})
    if not metadata.get("sha256"):
        raise PackagingError(f"s3://{bucket}/{key} has no sha256 metadata: re-upload it with package-deps")
    entry = {"version": version, "key": key, "sha256": metadata["sha256"], "size": int(head["ContentLength"])}
    return _set_current(client, bucket, prefix, entry)


def rollback(bucket: str, *, prefix: str = DEFAULT_PREFIX, s3_client=None) -> dict[str, Any]:
    """Swap current and previous in `current.json` (a second rollback rolls forward again)."""
    client = s3_client or _s3_client()
    current = _read_pointer(client, bucket, prefix)
    if not current:
        raise PackagingError(f"s3://{bucket}/{pointer_key(prefix)} does not exist: nothing to roll back")
    previous = current.get("previous")
    if not previous:
        raise PackagingError(f"s3://{bucket}/{pointer_key(prefix)} records no previous version")
    return _write_pointer(client, bucket, prefix, previous, current)


# ----------------------------------------------------------------------------------- function package

_FUNCTION_KEY_RE = re.compile(
    r"^[A-Za-z0-9_./-]+\.zip$"
)  # as infra/variables.tf validates lambda_package_key
#: What goes into the function package besides modules: the package data pyproject.toml ships (fonts and
#: their licences, the bundled universe, JSON). Anything else in a source folder (editor files, the lock,
#: caches) stays out.
FUNCTION_SUFFIXES = (".py", ".csv", ".json", ".ttf", ".txt", ".md")


@dataclasses.dataclass(frozen=True)
class FunctionBuild(_ZipBuild):
    """A built function package."""

    @property
    def source_code_hash(self) -> str:
        """Base64 of the SHA-256: what Terraform's `source_code_hash` and Lambda's `CodeSha256` show."""
        return self.manifest["source_code_hash"]


def _validate_function_key(key: str) -> str:
    if (
        not isinstance(key, str)
        or not _FUNCTION_KEY_RE.match(key)
        or key.startswith("/")
        or ".." in key.split("/")
    ):
        raise PackagingError(f"invalid function package key {key!r}: expected a relative key ending in .zip")
    return key


def _package_folder(name: str) -> Path:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name or ""):
        raise PackagingError(f"invalid package name {name!r}: expected a top-level Python package")
    spec = importlib.util.find_spec(name)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if spec is None or len(locations) != 1 or not Path(locations[0]).is_dir():
        raise PackagingError(
            f"package {name!r} is not an importable regular package here: install tickerlake"
        )
    return Path(locations[0])


def _function_files(packages: Sequence[str]) -> list[tuple[str, Path]]:
    files: list[tuple[str, Path]] = []
    for name in packages:
        folder = _package_folder(name)
        for entry, path in _files_to_pack(folder):
            if entry.endswith(FUNCTION_SUFFIXES):
                files.append((f"{name}/{entry}", path))
    files.sort(key=lambda item: item[0])
    return files


def _distribution_version() -> str | None:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None


def build_function_package(
    *,
    out_dir: str | os.PathLike[str],
    packages: Sequence[str] = FUNCTION_PACKAGES,
    name: str = "report_app",
) -> FunctionBuild:
    """Zip the project's packages the Lambda imports into `<out_dir>/<name>.zip` (+ `.manifest.json`).

    The modules come from where Python imports them (a checkout's `src/` or an installed wheel). The zip is
    reproducible: the same sources give the same bytes, hence the same SHA-256 and `source_code_hash`.
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", name or ""):
        raise PackagingError(f"invalid function package name {name!r}: expected e.g. 'report_app'")
    if not packages:
        raise PackagingError("no packages to put in the function package")
    files = _function_files(list(packages))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    zip_path = out / f"{name}.zip"
    stats = _write_zip(files, zip_path)
    manifest = {
        "format": MANIFEST_FORMAT,
        "name": name,
        "tickerlake_version": _distribution_version(),
        "handler": "report_app.lambda_handler.handler",
        "runtime": LAMBDA_RUNTIME,
        "packages": list(packages),
        "sha256": stats.sha256,
        "source_code_hash": base64.b64encode(bytes.fromhex(stats.sha256)).decode(),
        "size": stats.size,
        "file_count": stats.file_count,
        "uncompressed_size": stats.uncompressed_size,
        "built_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }
    manifest_path = out / f"{name}.zip.manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return FunctionBuild(zip_path, manifest_path, manifest)


def upload_function_package(
    build: FunctionBuild, bucket: str, *, key: str = DEFAULT_FUNCTION_KEY, s3_client=None
) -> dict[str, Any]:
    """Upload the function package to `s3://bucket/<key>` (SSE AES256, metadata sha256) and its manifest.

    The key is fixed (Terraform's `lambda_package_key`); the deploy bucket's versioning keeps the earlier
    packages. The same bytes are not uploaded again. Returns bucket, key, sha256, source_code_hash, size,
    version_id (None on an unversioned bucket) and `uploaded` (False if S3 already held these bytes).
    """
    _validate_function_key(key)
    client = s3_client or _s3_client()
    existing = _head(client, bucket, key)
    uploaded = (existing or {}).get("Metadata", {}).get("sha256") != build.sha256
    if uploaded:
        client.upload_file(
            str(build.zip_path),
            bucket,
            key,
            ExtraArgs={
                "ServerSideEncryption": "AES256",
                "ContentType": "application/zip",
                "Metadata": {
                    "sha256": build.sha256,
                    "size": str(build.manifest["size"]),
                    "tickerlake-version": str(build.manifest.get("tickerlake_version") or "unknown"),
                },
            },
        )
        existing = _head(client, bucket, key)
        client.put_object(
            Bucket=bucket,
            Key=manifest_key(key),
            Body=(json.dumps({**build.manifest, "key": key}, indent=2, sort_keys=True) + "\n").encode(),
            ContentType="application/json",
            ServerSideEncryption="AES256",
        )
    return {
        "bucket": bucket,
        "key": key,
        "sha256": build.sha256,
        "source_code_hash": build.source_code_hash,
        "size": build.manifest["size"],
        "version_id": (existing or {}).get("VersionId"),
        "uploaded": uploaded,
    }
