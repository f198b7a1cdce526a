"""report_app.dependency_loader against the moto server: verified, bounded, atomic loading from S3."""

import hashlib
import io
import json
import logging
import os
import signal
import stat
import struct
import subprocess
import sys
import textwrap
import uuid
import warnings
import zipfile
import zlib
from pathlib import Path

import boto3
import pytest

from report_app import dependency_loader as dl
from report_app.dependency_loader import (
    ArchiveTooLarge,
    ChecksumMismatch,
    CorruptArchive,
    DependencyNotFound,
    Limits,
    UnsafeArchive,
    load_configured_dependencies,
    load_dependencies,
    resolve_dependencies_key,
)

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------ helpers


@pytest.fixture(autouse=True)
def _restore_interpreter(monkeypatch):
    """Every test starts as a fresh process would: no cached loads; sys.path/sys.modules restored after."""
    for name in ("DEPENDENCIES_VERSION", "DEPENDENCIES_BUCKET", "DEPENDENCIES_KEY", "DEPENDENCIES_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name in ("DEPENDENCIES_MAX_BYTES", "DEPENDENCIES_MAX_ENTRIES", "DEPENDENCIES_MAX_RATIO"):
        monkeypatch.delenv(name, raising=False)
    saved_path, saved_modules = list(sys.path), set(sys.modules)
    _forget_process_state()
    yield
    sys.path[:] = saved_path
    for name in set(sys.modules) - saved_modules:
        del sys.modules[name]
    _forget_process_state()


def _forget_process_state() -> None:
    dl._LOADED.clear()
    dl._ACTIVE.clear()
    dl._RESOLVED.clear()


@pytest.fixture
def s3(moto_server, s3_bucket):
    client = boto3.client("s3")
    client.create_bucket(Bucket=s3_bucket)
    return client


@pytest.fixture
def target(tmp_path) -> Path:
    return tmp_path / "python-libs"


def module_name() -> str:
    return f"tl_dep_{uuid.uuid4().hex[:10]}"


def make_zip(entries: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def package_zip(module: str, value: int = 42, extra_files: int = 0) -> bytes:
    entries = {f"{module}/__init__.py": f"VALUE = {value}\n".encode()}
    for i in range(extra_files):
        entries[f"{module}/data/file_{i:03d}.txt"] = f"payload {i}\n".encode() * 100
    return make_zip(entries)


def put(client, bucket, key, data: bytes, *, sha256: str | None = "auto", size: int | None = None) -> None:
    metadata = {}
    if sha256 is not None:
        metadata["sha256"] = hashlib.sha256(data).hexdigest() if sha256 == "auto" else sha256
        metadata["size"] = str(len(data) if size is None else size)
    client.put_object(Bucket=bucket, Key=key, Body=data, Metadata=metadata, ServerSideEncryption="AES256")


def count_calls(client) -> list[str]:
    calls: list[str] = []
    client.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    return calls


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def key_for(version: str) -> str:
    return f"python-libs/{version}/data-science-libs.zip"


# --------------------------------------------------------------------------------------- cold / warm


def test_cold_load_verifies_unpacks_and_imports(s3, s3_bucket, target, caplog):
    name = module_name()
    data = package_zip(name, 7, extra_files=3)
    put(s3, s3_bucket, key_for("v1"), data)

    with caplog.at_level(logging.INFO, logger=f"tickerlake.{dl.__name__}"):
        folder = load_dependencies(s3_bucket, key_for("v1"), str(target))

    assert folder == target / "v1"
    assert sys.path[0] == str(folder)
    assert __import__(name).VALUE == 7
    assert (folder / name / "data" / "file_002.txt").read_bytes() == b"payload 2\n" * 100
    marker = json.loads((folder / dl.MARKER_NAME).read_text())
    assert marker["sha256"] == hashlib.sha256(data).hexdigest()
    assert marker["files"] == 4 and marker["key"] == key_for("v1")
    assert listing(target) == [".lock", "v1"]  # no download or temp folder left over
    [cold] = [r for r in caplog.records if r.getMessage() == "dependencies cold"]
    assert (cold.how, cold.key, cold.version, cold.bytes, cold.path) == (
        "load",
        key_for("v1"),
        "v1",
        len(data),
        str(folder),
    )
    assert cold.seconds >= 0


def test_warm_load_makes_no_s3_call(s3, s3_bucket, target, caplog):
    name = module_name()
    put(s3, s3_bucket, key_for("v1"), package_zip(name))
    calls = count_calls(s3)
    first = load_dependencies(s3_bucket, key_for("v1"), str(target), s3_client=s3)
    assert calls, "the cold load talks to S3"
    s3.delete_object(Bucket=s3_bucket, Key=key_for("v1"))
    calls.clear()

    with caplog.at_level(logging.INFO, logger=f"tickerlake.{dl.__name__}"):
        for _ in range(100):
            assert load_dependencies(s3_bucket, key_for("v1"), str(target), s3_client=s3) == first

    assert calls == []
    assert sys.path.count(str(first)) == 1  # put on sys.path once
    warm = [r for r in caplog.records if r.getMessage() == "dependencies warm"]
    assert (
        len(warm) == 100 and (warm[0].key, warm[0].version) == (key_for("v1"), "v1") and warm[0].seconds >= 0
    )


def test_new_process_reuses_the_unpacked_folder_with_one_head(s3, s3_bucket, target):
    name = module_name()
    put(s3, s3_bucket, key_for("v1"), package_zip(name, 3))
    folder = load_dependencies(s3_bucket, key_for("v1"), str(target))
    marker_before = (folder / dl.MARKER_NAME).stat().st_mtime_ns

    script = textwrap.dedent(
        f"""
        import sys, boto3
        sys.path.insert(0, {str(REPO / "src")!r})
        calls = []
        boto3.setup_default_session()
        boto3.DEFAULT_SESSION.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
        from report_app.dependency_loader import load_dependencies
        path = load_dependencies({s3_bucket!r}, {key_for("v1")!r}, {str(target)!r})
        import {name}
        print(path, {name}.VALUE, ",".join(calls))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(folder), "3", "HeadObject"]
    assert (folder / dl.MARKER_NAME).stat().st_mtime_ns == marker_before


def test_folder_without_marker_is_not_trusted(s3, s3_bucket, target):
    name = module_name()
    put(s3, s3_bucket, key_for("v1"), package_zip(name, 5))
    partial = target / "v1" / name
    partial.mkdir(parents=True)
    (partial / "__init__.py").write_text("VALUE = 'half written'\n")

    folder = load_dependencies(s3_bucket, key_for("v1"), str(target))

    assert __import__(name).VALUE == 5
    assert (folder / dl.MARKER_NAME).exists()
    assert listing(target) == [".lock", "v1"]


def test_object_replaced_under_the_same_key_is_reloaded(s3, s3_bucket, target):
    name = module_name()
    put(s3, s3_bucket, key_for("v1"), package_zip(name, 1))
    folder = load_dependencies(s3_bucket, key_for("v1"), str(target))
    _forget_process_state()  # a new process
    put(s3, s3_bucket, key_for("v1"), package_zip(name, 2))

    assert load_dependencies(s3_bucket, key_for("v1"), str(target)) == folder

    assert (folder / name / "__init__.py").read_text() == "VALUE = 2\n"
    assert listing(target) == [".lock", "v1"]


def test_unversioned_key_is_unpacked_by_sha(s3, s3_bucket, target):
    data = package_zip(module_name())
    put(s3, s3_bucket, "deps.zip", data)
    folder = load_dependencies(s3_bucket, "deps.zip", str(target))
    assert folder.name == "sha256-" + hashlib.sha256(data).hexdigest()[:16]


def test_missing_object_is_not_found(s3, s3_bucket, target):
    with pytest.raises(DependencyNotFound, match="python-libs/v9/data-science-libs.zip does not exist"):
        load_dependencies(s3_bucket, key_for("v9"), str(target))


# ---------------------------------------------------------------------------------------- refusals


def assert_refused_cleanly(target: Path, path_before: list[str], expected: list[str] | None = None) -> None:
    assert listing(target) == (expected or [".lock"])
    assert sys.path == path_before
    assert not any(target.parent.rglob("evil*"))


def symlink_zip(link_target: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok/__init__.py", b"")
        info = zipfile.ZipInfo("ok/evil_link")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, link_target)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("../evil.py", "'..' path segment"),
        ("pkg/../../evil.py", "'..' path segment"),
        ("/tmp/evil.py", "absolute path"),
        ("C:/evil.py", "drive letter"),
        ("..\\evil.py", "backslash"),
        ("pkg/./evil.py", "'.' path segment"),
        (dl.MARKER_NAME, "completion marker"),
    ],
)
def test_zip_slip_entries_are_refused(s3, s3_bucket, target, entry, reason):
    put(s3, s3_bucket, key_for("v1"), make_zip({"pkg/__init__.py": b"", entry: b"owned"}))
    before = list(sys.path)
    with pytest.raises(UnsafeArchive, match=reason):
        load_dependencies(s3_bucket, key_for("v1"), str(target))
    assert_refused_cleanly(target, before)


@pytest.mark.parametrize(
    ("link", "where"),
    [("../../../evil_target", "outside"), ("/etc/passwd", "outside"), ("__init__.py", "inside")],
)
def test_symlink_entries_are_refused(s3, s3_bucket, target, link, where):
    put(s3, s3_bucket, key_for("v1"), symlink_zip(link))
    before = list(sys.path)
    with pytest.raises(UnsafeArchive, match=f"symbolic link to '{link}' \\({where} the archive\\)"):
        load_dependencies(s3_bucket, key_for("v1"), str(target))
    assert_refused_cleanly(target, before)


def test_duplicate_and_file_folder_clashes_are_refused(s3, s3_bucket, target):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name we write on purpose
        duplicate = make_zip({"pkg/a.py": b"1"}) and _zip_with_duplicate()
    put(s3, s3_bucket, key_for("v1"), duplicate)
    with pytest.raises(UnsafeArchive, match="appears twice"):
        load_dependencies(s3_bucket, key_for("v1"), str(target))
    put(s3, s3_bucket, key_for("v2"), make_zip({"pkg": b"file", "pkg/a.py": b"x"}))
    with pytest.raises(UnsafeArchive, match="both a file and a folder"):
        load_dependencies(s3_bucket, key_for("v2"), str(target))
    assert listing(target) == [".lock"]


def _zip_with_duplicate() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("pkg/a.py", b"first")
        archive.writestr("pkg/a.py", b"second")
    return buffer.getvalue()


def test_declared_size_over_the_limit_is_refused_before_writing(s3, s3_bucket, target, monkeypatch):
    put(s3, s3_bucket, key_for("v1"), make_zip({"pkg/big.txt": b"x" * 300_000, "pkg/b.txt": b"x" * 10}))
    monkeypatch.setenv("DEPENDENCIES_MAX_BYTES", "200000")
    with pytest.raises(ArchiveTooLarge, match="declares more than 200000 uncompressed bytes"):
        load_dependencies(s3_bucket, key_for("v1"), str(target))
    assert listing(target) == [".lock"]


def test_high_compression_ratio_is_refused(s3, s3_bucket, target):
    put(s3, s3_bucket, key_for("v1"), make_zip({"pkg/zeros.bin": bytes(8 * 1024 * 1024)}))  # ~1000x
    with pytest.raises(ArchiveTooLarge, match=r"archive expands \d+x .* the limit is 100x"):
        load_dependencies(s3_bucket, key_for("v1"), str(target))
    assert listing(target) == [".lock"]


def test_too_many_entries_are_refused(s3, s3_bucket, target):
    put(s3, s3_bucket, key_for("v1"), make_zip({f"pkg/m{i}.py": b"" for i in range(11)}))
    with pytest.raises(ArchiveTooLarge, match="11 entries, the limit is 10"):
        load_dependencies(s3_bucket, key_for("v1"), str(target), limits=Limits(max_entries=10))


def lying_header_zip(actual: bytes, declared_size: int) -> bytes:
    """An entry whose central directory (and local header) declare fewer bytes than it inflates to."""
    data = bytearray(make_zip({"pkg/bomb.bin": actual}))
    local = data.find(b"PK\x03\x04")
    struct.pack_into("<I", data, local + 22, declared_size)
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, declared_size)
    return bytes(data)


def test_lying_header_cannot_write_more_than_declared(s3, s3_bucket, target):
    put(s3, s3_bucket, key_for("v1"), lying_header_zip(b"A" * 3_000_000, 1000))
    with pytest.raises(ArchiveTooLarge, match="'pkg/bomb.bin' inflates past its declared 1000 bytes"):
        load_dependencies(s3_bucket, key_for("v1"), str(target), limits=Limits(max_bytes=1_000_000))
    assert listing(target) == [".lock"]


def test_lying_header_with_a_matching_crc_is_still_refused(s3, s3_bucket, target):
    """The CRC of the declared prefix is easy to forge: the byte count, not the CRC, catches the lie."""
    data = bytearray(lying_header_zip(b"A" * 3_000_000, 1000))
    crc = zlib.crc32(b"A" * 1000)
    struct.pack_into("<I", data, data.find(b"PK\x03\x04") + 14, crc)
    struct.pack_into("<I", data, data.find(b"PK\x01\x02") + 16, crc)
    put(s3, s3_bucket, key_for("v1"), bytes(data))
    with pytest.raises(ArchiveTooLarge, match="inflates past its declared 1000 bytes"):
        load_dependencies(s3_bucket, key_for("v1"), str(target))
    assert listing(target) == [".lock"]


def test_streaming_counter_stops_an_entry_inflating_past_its_declared_size(tmp_path):
    """Second line of defence, independent of zipfile's own cap: bytes written are counted."""

    class Endless(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buffer):
            buffer[: len(buffer)] = b"\0" * len(buffer)
            return len(buffer)

    class FakeZip:
        def open(self, info):
            return io.BufferedReader(Endless())

    info = zipfile.ZipInfo("pkg/x.bin")
    info.file_size = 10
    entry = dl._Entry(info, ("pkg", "x.bin"), False)
    with pytest.raises(ArchiveTooLarge, match="inflates past its declared 10 bytes"):
        dl._extract_entry(FakeZip(), entry, tmp_path / "x.bin", [10**9])
    info.file_size = 10**9
    with pytest.raises(ArchiveTooLarge, match="past the uncompressed-bytes limit"):
        dl._extract_entry(FakeZip(), entry, tmp_path / "y.bin", [5 * 1024 * 1024])


def test_truncated_archive_is_corrupt(s3, s3_bucket, target):
    data = package_zip(module_name(), extra_files=20)
    truncated = data[: len(data) // 2]
    put(s3, s3_bucket, key_for("v1"), truncated)  # the publisher's checksum matches: the zip itself is bad
    with pytest.raises(CorruptArchive, match="not a readable zip"):
        load_dependencies(s3_bucket, key_for("v1"), str(target))
    assert listing(target) == [".lock"]


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_flipped_byte_is_corrupt(s3, s3_bucket, target, compression):
    payload = os.urandom(50_000)
    data = bytearray(make_zip({"pkg/__init__.py": b"", "pkg/data.bin": payload}, compression=compression))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("pkg/data.bin")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + 1000] ^= 0xFF
    put(s3, s3_bucket, key_for("v1"), bytes(data))
    with pytest.raises(CorruptArchive):
        load_dependencies(s3_bucket, key_for("v1"), str(target))
    assert listing(target) == [".lock"]


def test_checksum_mismatch_is_refused(s3, s3_bucket, target):
    data = package_zip(module_name())
    put(s3, s3_bucket, key_for("v1"), data, sha256=hashlib.sha256(b"other bytes").hexdigest())
    with pytest.raises(
        ChecksumMismatch, match="SHA-256 of the downloaded bytes is [0-9a-f]{64}, the metadata"
    ):
        load_dependencies(s3_bucket, key_for("v1"), str(target))
    assert listing(target) == [".lock"]


def test_size_mismatch_is_refused_before_downloading(s3, s3_bucket, target):
    put(s3, s3_bucket, key_for("v1"), package_zip(module_name()), size=12)
    calls = count_calls(s3)
    with pytest.raises(ChecksumMismatch, match="but the metadata records 12"):
        load_dependencies(s3_bucket, key_for("v1"), str(target), s3_client=s3)
    assert "GetObject" not in calls


def test_no_recorded_checksum_is_refused(s3, s3_bucket, target):
    put(s3, s3_bucket, key_for("v1"), package_zip(module_name()), sha256=None)
    with pytest.raises(ChecksumMismatch, match="no recorded checksum"):
        load_dependencies(s3_bucket, key_for("v1"), str(target))


def test_manifest_is_used_when_metadata_is_absent(s3, s3_bucket, target):
    name = module_name()
    data = package_zip(name, 11)
    put(s3, s3_bucket, key_for("v1"), data, sha256=None)
    manifest = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "version": "v1"}
    s3.put_object(Bucket=s3_bucket, Key=key_for("v1") + ".manifest.json", Body=json.dumps(manifest))
    folder = load_dependencies(s3_bucket, key_for("v1"), str(target))
    assert __import__(name).VALUE == 11
    assert json.loads((folder / dl.MARKER_NAME).read_text())["checksum_source"] == "manifest"

    manifest["sha256"] = "0" * 64
    s3.put_object(Bucket=s3_bucket, Key=key_for("v2") + ".manifest.json", Body=json.dumps(manifest))
    put(s3, s3_bucket, key_for("v2"), data, sha256=None)
    with pytest.raises(ChecksumMismatch, match="the manifest records 0{64}"):
        load_dependencies(s3_bucket, key_for("v2"), str(target))


def test_pinned_sha_must_match(s3, s3_bucket, target):
    put(s3, s3_bucket, key_for("v1"), package_zip(module_name()))
    with pytest.raises(ChecksumMismatch, match="the pointer records sha256 f{64}"):
        load_dependencies(s3_bucket, key_for("v1"), str(target), expected_sha256="f" * 64)


def test_a_refusal_leaves_the_previous_version_usable(s3, s3_bucket, target):
    name = module_name()
    put(s3, s3_bucket, key_for("v1"), package_zip(name, 1))
    good = load_dependencies(s3_bucket, key_for("v1"), str(target))
    put(s3, s3_bucket, key_for("v2"), make_zip({"../evil.py": b"x"}))
    path_before = list(sys.path)

    with pytest.raises(UnsafeArchive):
        load_dependencies(s3_bucket, key_for("v2"), str(target))

    assert_refused_cleanly(target, path_before, [".lock", "v1"])
    _forget_process_state()
    assert load_dependencies(s3_bucket, key_for("v1"), str(target)) == good
    assert __import__(name).VALUE == 1


def test_limits_from_env_refuse_nonsense(monkeypatch):
    monkeypatch.setenv("DEPENDENCIES_MAX_ENTRIES", "lots")
    with pytest.raises(ValueError, match="DEPENDENCIES_MAX_ENTRIES must be a positive number, got 'lots'"):
        Limits.from_env()
    assert Limits.from_env({"DEPENDENCIES_MAX_RATIO": "50"}) == Limits(max_ratio=50.0)


# ------------------------------------------------------------------------------------- crash safety


def test_process_killed_mid_unpack_leaves_nothing_trusted(s3, s3_bucket, target):
    name = module_name()
    put(s3, s3_bucket, key_for("v1"), package_zip(name, 9, extra_files=30))
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(REPO / "src")!r})
        from report_app import dependency_loader as dl
        original = dl._extract_entry
        def slow(*args, **kwargs):
            written = original(*args, **kwargs)
            print("PAUSED", flush=True)
            time.sleep(60)
            return written
        dl._extract_entry = slow
        dl.load_dependencies({s3_bucket!r}, {key_for("v1")!r}, {str(target)!r})
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = process.stdout.readline()
        assert line.strip() == b"PAUSED", process.stderr.read().decode()
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()

    leftovers = [p for p in listing(target) if p.startswith(".tmp-")]
    assert leftovers, "the killed process was unpacking into a temporary folder"
    assert "v1" not in listing(target)

    folder = load_dependencies(s3_bucket, key_for("v1"), str(target))

    assert listing(target) == [".lock", "v1"]
    assert __import__(name).VALUE == 9
    assert len(list((folder / name / "data").iterdir())) == 30


# ---------------------------------------------------------------------------------- versions, rollback


def write_pointer(client, bucket, current: str, previous: str | None) -> None:
    def entry(version):
        return {"version": version, "key": key_for(version)}

    pointer = {"format": 1, **entry(current), "previous": entry(previous) if previous else None}
    client.put_object(Bucket=bucket, Key="python-libs/current.json", Body=json.dumps(pointer))


def test_resolve_key_from_version_env_or_pointer(s3, s3_bucket, monkeypatch):
    calls = count_calls(s3)
    assert resolve_dependencies_key(s3_bucket, version="2025.01.3", s3_client=s3) == key_for("2025.01.3")
    monkeypatch.setenv("DEPENDENCIES_VERSION", "v7")
    assert resolve_dependencies_key(s3_bucket, s3_client=s3) == key_for("v7")
    assert calls == []  # a configured version needs no S3 call

    monkeypatch.delenv("DEPENDENCIES_VERSION")
    with pytest.raises(DependencyNotFound, match="python-libs/current.json does not exist"):
        resolve_dependencies_key(s3_bucket, s3_client=s3)
    write_pointer(s3, s3_bucket, "v2", "v1")
    assert resolve_dependencies_key(s3_bucket, s3_client=s3) == key_for("v2")
    assert resolve_dependencies_key(s3_bucket, version="previous", s3_client=s3) == key_for("v1")
    monkeypatch.setenv("DEPENDENCIES_VERSION", "previous")
    assert resolve_dependencies_key(s3_bucket, s3_client=s3) == key_for("v1")
    write_pointer(s3, s3_bucket, "v1", None)
    with pytest.raises(DependencyNotFound, match="no previous version"):
        resolve_dependencies_key(s3_bucket, s3_client=s3)
    with pytest.raises(ValueError, match="invalid dependencies version '../x'"):
        resolve_dependencies_key(s3_bucket, version="../x")


def test_rollback_by_configuration_loads_the_previous_version(s3, s3_bucket, target, monkeypatch):
    name = module_name()
    put(s3, s3_bucket, key_for("v1"), package_zip(name, 1))
    put(s3, s3_bucket, key_for("v2"), package_zip(name, 2))
    write_pointer(s3, s3_bucket, "v2", "v1")
    monkeypatch.setenv("DEPENDENCIES_BUCKET", s3_bucket)
    monkeypatch.setenv("DEPENDENCIES_DIR", str(target))

    assert load_configured_dependencies() == target / "v2"
    assert __import__(name).VALUE == 2

    # configured to roll back; the folder put on sys.path before is taken off it
    dl._LOADED.clear()
    dl._RESOLVED.clear()
    del sys.modules[name]
    monkeypatch.setenv("DEPENDENCIES_VERSION", "previous")
    assert load_configured_dependencies() == target / "v1"
    assert __import__(name).VALUE == 1
    assert str(target / "v2") not in sys.path

    _forget_process_state()
    del sys.modules[name]
    monkeypatch.setenv("DEPENDENCIES_VERSION", "v2")
    assert load_configured_dependencies() == target / "v2"
    assert __import__(name).VALUE == 2


def test_configured_load_requires_a_bucket():
    with pytest.raises(dl.DependencyLoadError, match="DEPENDENCIES_BUCKET is not set"):
        load_configured_dependencies()


def test_unused_versions_are_evicted_only_when_space_runs_out(s3, s3_bucket, target, monkeypatch):
    name = module_name()
    put(s3, s3_bucket, key_for("v1"), package_zip(name, 1))
    put(s3, s3_bucket, key_for("v2"), package_zip(name, 2))
    put(s3, s3_bucket, key_for("v3"), package_zip(name, 3))
    load_dependencies(s3_bucket, key_for("v1"), str(target))
    load_dependencies(s3_bucket, key_for("v2"), str(target))
    assert listing(target) == [".lock", "v1", "v2"]  # enough space: nothing evicted

    real_usage = dl.shutil.disk_usage
    full = {"on": True}

    def usage(path):
        result = real_usage(path)
        free = 0 if full["on"] and (target / "v1").exists() else result.free
        return result._replace(free=free)

    monkeypatch.setattr(dl.shutil, "disk_usage", usage)
    load_dependencies(s3_bucket, key_for("v3"), str(target))
    assert listing(target) == [".lock", "v2", "v3"]  # v1 went; v2 was in use by this process
