"""report_app.packaging and `tickerlake deploy ...`: offline wheelhouse -> deterministic zip -> S3 -> loader."""

import base64
import dataclasses
import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from report_app import dependency_loader as dl
from report_app import packaging
from report_app.packaging import PackagingError
from tickerlake_cli.main import app

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(autouse=True)
def _restore_interpreter(monkeypatch):
    for name in ("DEPENDENCIES_VERSION", "DEPENDENCIES_BUCKET", "DEPENDENCIES_KEY", "DEPENDENCIES_DIR"):
        monkeypatch.delenv(name, raising=False)
    saved_path, saved_modules = list(sys.path), set(sys.modules)
    _forget()
    yield
    sys.path[:] = saved_path
    for name in set(sys.modules) - saved_modules:
        del sys.modules[name]
    _forget()


def _forget() -> None:
    dl._LOADED.clear()
    dl._ACTIVE.clear()
    dl._RESOLVED.clear()


@pytest.fixture
def s3(moto_server, s3_bucket):
    client = boto3.client("s3")
    client.create_bucket(Bucket=s3_bucket)
    return client


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(
    wheelhouse: Path,
    name: str = "tinylib",
    version: str = "1.0.0",
    value: int | str = 1,
    tag: str = "py3-none-any",
) -> Path:
    """A minimal wheel written by hand: no build backend, no network. Its code is pure Python whatever the
    `tag` (e.g. `cp312-cp312-manylinux_2_28_x86_64`): pip selects it by the tag as it would a binary wheel."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VALUE = {value!r}\n\ndef double(x):\n    return 2 * x\n".encode(),
        f"{name}/tests/__init__.py": b"",
        f"{name}/tests/test_tiny.py": b"def test_nothing():\n    pass\n",
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: {str(tag == 'py3-none-any').lower()}\n"
            f"Tag: {tag}\n"
        ).encode(),
    }
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in files.items())
    record += f"{dist_info}/RECORD,,\n"
    path = wheelhouse / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for member, data in files.items():
            wheel.writestr(member, data)
        wheel.writestr(f"{dist_info}/RECORD", record)
    return path


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """A wheelhouse with tinylib 1.0.0 (VALUE 1) and 2.0.0 (VALUE 2), and a lock pinning 1.0.0."""
    folder = tmp_path_factory.mktemp("offline")
    wheelhouse = folder / "wheelhouse"
    make_wheel(wheelhouse, version="1.0.0", value=1)
    make_wheel(wheelhouse, version="2.0.0", value=2)
    lock = folder / "requirements.lock"
    lock.write_text("# a lock\ntinylib==1.0.0\n    # via tickerlake\nother-lib==3.1\n")
    return wheelhouse, lock


def build(out_dir, wheelhouse, lock, requirement="tinylib", **kwargs):
    return packaging.build_package(
        out_dir=out_dir, packages=[requirement], lock=lock, wheelhouse=wheelhouse, **kwargs
    )


@pytest.fixture(scope="module")
def builds(offline, tmp_path_factory):
    """Versions v1 (tinylib 1.0.0, the lock's pin) and v2 (tinylib 2.0.0), built once: pip is slow."""
    wheelhouse, lock = offline
    out = tmp_path_factory.mktemp("builds")
    return {
        "v1": build(out, wheelhouse, lock, version="v1"),
        "v2": build(out, wheelhouse, lock, "tinylib==2.0.0", version="v2"),
    }


# ------------------------------------------------------------------------------------------- build


def test_build_from_an_offline_wheelhouse(builds):
    result = builds["v1"]

    data = result.zip_path.read_bytes()
    manifest = result.manifest
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest() == result.sha256
    assert result.version == "v1"
    assert result.zip_path == result.zip_path.parents[1] / "v1" / "data-science-libs.zip"
    assert json.loads(result.manifest_path.read_text()) == manifest
    assert manifest["size"] == len(data)
    assert manifest["requirements"] == ["tinylib==1.0.0"]
    assert manifest["installed"] == {"tinylib": "1.0.0"}
    assert manifest["python"] == "3.12" and manifest["platforms"][0] == "manylinux_2_34_x86_64"
    assert manifest["platforms"][-1] == "manylinux2014_x86_64"
    assert manifest["key"] == "python-libs/v1/data-science-libs.zip"
    assert manifest["built_at"].endswith("+00:00")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert names == sorted(names)
        assert "tinylib/__init__.py" in names
        assert not [n for n in names if "/tests/" in n or "__pycache__" in n or n.endswith(".pyc")]
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert manifest["file_count"] == len(names)
        assert manifest["uncompressed_size"] == sum(i.file_size for i in archive.infolist())
    assert sorted(p.name for p in result.zip_path.parents[1].iterdir()) == ["v1", "v2"]  # no build leftovers


def test_build_is_reproducible(tmp_path, offline, builds):
    wheelhouse, lock = offline
    again = build(tmp_path, wheelhouse, lock, version="v1")
    assert again.zip_path.read_bytes() == builds["v1"].zip_path.read_bytes()
    assert again.manifest["installed"] == builds["v1"].manifest["installed"]


def test_build_zip_excludes_caches_tests_and_scripts(tmp_path):
    site = tmp_path / "site"
    for rel in ("pkg/__init__.py", "pkg/__pycache__/x.cpython-311.pyc", "pkg/tests/t.py", "pkg/stray.pyc",
                "pkg/testing/helpers.py", "bin/script", "pkg/bin/tool.py", "pkg.libs/libz.so"):  # fmt: skip
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)
    (site / "pkg.libs" / "libz.so").chmod(0o755)

    stats = packaging.build_zip(site, tmp_path / "x.zip")

    with zipfile.ZipFile(tmp_path / "x.zip") as archive:
        assert archive.namelist() == [
            "pkg.libs/libz.so",
            "pkg/__init__.py",
            "pkg/bin/tool.py",
            "pkg/testing/helpers.py",
        ]
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in archive.infolist()}
    assert modes["pkg.libs/libz.so"] == 0o755 and modes["pkg/__init__.py"] == 0o644
    assert stats.file_count == 4


def test_build_zip_refuses_symlinks(tmp_path):
    site = tmp_path / "site"
    (site / "pkg").mkdir(parents=True)
    (site / "pkg" / "link.py").symlink_to("/etc/hostname")
    with pytest.raises(PackagingError, match="link.py is a symbolic link"):
        packaging.build_zip(site, tmp_path / "x.zip")
    assert not list(tmp_path.glob("x.zip*"))


def test_select_requirements_pins_from_the_lock(tmp_path, offline):
    _, lock = offline
    assert packaging.select_requirements(["tinylib", "Other_Lib"], lock=lock) == [
        "tinylib==1.0.0",
        "Other_Lib==3.1",
    ]
    requirements = tmp_path / "req.txt"
    requirements.write_text("# heavy\ntinylib\nextra-lib==0.4  # pinned here\n--only-binary :all:\n")
    assert packaging.select_requirements(requirements_file=requirements, lock=lock) == [
        "tinylib==1.0.0",
        "extra-lib==0.4",
    ]
    with pytest.raises(PackagingError, match="'missing' has no version and is not pinned in"):
        packaging.select_requirements(["missing"], lock=lock)
    with pytest.raises(PackagingError, match="'numpy>=2' .* is not an exact pin"):
        packaging.select_requirements(["numpy>=2"], lock=lock)
    with pytest.raises(FileNotFoundError, match="lock file nowhere.lock does not exist"):
        packaging.select_requirements(["numpy"], lock="nowhere.lock")


def test_default_requirements_are_the_bot_extra_pinned_by_the_shipped_lock():
    pins = packaging.read_lock_pins(REPO / "requirements.lock")
    bot = packaging.bot_packages()
    assert packaging.select_requirements() == [f"{name}=={pins[name]}" for name in bot]
    assert {"numpy", "pandas", "pyarrow", "matplotlib", "reportlab", "line-bot-sdk"} <= set(bot)
    assert not {"dagster", "great-expectations", "yfinance", "duckdb", "boto3"} & set(bot)


def test_the_shipped_lock_is_the_repository_lock():
    assert packaging.DEFAULT_LOCK == REPO / "src" / "report_app" / "requirements.lock"
    assert packaging.DEFAULT_LOCK.read_bytes() == (REPO / "requirements.lock").read_bytes(), "run `make lock`"


def test_bot_packages_of_an_unknown_distribution_is_a_clear_error():
    with pytest.raises(PackagingError, match="'no-such-dist' distribution is not installed"):
        packaging.bot_packages("no-such-dist")
    with pytest.raises(PackagingError, match=r"tickerlake\[nothing\] has no requirements"):
        packaging.bot_packages(extra="nothing")


def test_manylinux_platforms():
    assert packaging.manylinux_platforms()[0] == "manylinux_2_34_x86_64"  # python3.12: Amazon Linux 2023
    assert len(packaging.manylinux_platforms("2.26")) == 11
    assert len(packaging.manylinux_platforms()) == 19
    assert packaging.manylinux_platforms("2.17", "aarch64") == [
        "manylinux_2_17_aarch64",
        "manylinux2014_aarch64",
    ]
    with pytest.raises(PackagingError, match="invalid glibc version '2.5'"):
        packaging.manylinux_platforms("2.5")


def test_missing_wheel_is_a_clear_error(tmp_path, offline):
    wheelhouse, lock = offline
    with pytest.raises(
        PackagingError, match=r"No matching distribution found for tinylib==9\.9.*python3\.12.*glibc 2\.34"
    ):
        packaging.build_package(
            out_dir=tmp_path / "out", packages=["tinylib==9.9"], lock=lock, wheelhouse=wheelhouse
        )
    assert not list((tmp_path / "out").iterdir())


# ------------------------------------------------------------------------------ upload and pointer


def test_package_deps_command_uploads_what_the_loader_accepts(tmp_path, offline, s3, s3_bucket):
    wheelhouse, lock = offline
    out = tmp_path / "dist"
    result = runner.invoke(
        app,
        ["deploy", "package-deps", "--bucket", s3_bucket, "--packages", "tinylib", "--lock", str(lock),
         "--wheelhouse", str(wheelhouse), "--out", str(out), "--version", "2025.01.1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "current version=2025.01.1 previous=-" in result.output

    key = "python-libs/2025.01.1/data-science-libs.zip"
    head = s3.head_object(Bucket=s3_bucket, Key=key)
    local = out / "2025.01.1" / "data-science-libs.zip"
    assert head["ServerSideEncryption"] == "AES256"
    assert head["Metadata"]["sha256"] == hashlib.sha256(local.read_bytes()).hexdigest()
    assert head["Metadata"]["size"] == str(local.stat().st_size)
    manifest = json.loads(s3.get_object(Bucket=s3_bucket, Key=key + ".manifest.json")["Body"].read())
    assert manifest["version"] == "2025.01.1" and manifest["requirements"] == ["tinylib==1.0.0"]
    pointer = json.loads(s3.get_object(Bucket=s3_bucket, Key="python-libs/current.json")["Body"].read())
    assert pointer["key"] == key and pointer["previous"] is None and pointer["sha256"] == manifest["sha256"]

    folder = dl.load_dependencies(s3_bucket, dl.resolve_dependencies_key(s3_bucket), str(tmp_path / "libs"))
    import tinylib

    assert Path(tinylib.__file__).parent == folder / "tinylib"
    assert tinylib.double(21) == 42 and tinylib.VALUE == 1
    assert not (folder / "tinylib" / "tests").exists()


def test_new_version_keeps_previous_and_rollback_swaps(tmp_path, builds, s3, s3_bucket, monkeypatch):
    packaging.upload_package(builds["v1"], s3_bucket)
    pointer = packaging.upload_package(builds["v2"], s3_bucket)
    assert (pointer["version"], pointer["previous"]["version"]) == ("v2", "v1")
    again = packaging.upload_package(builds["v2"], s3_bucket)  # re-publishing keeps the rollback target
    assert again["previous"]["version"] == "v1"

    monkeypatch.setenv("DEPENDENCIES_BUCKET", s3_bucket)
    monkeypatch.setenv("DEPENDENCIES_DIR", str(tmp_path / "libs"))
    monkeypatch.setenv("DEPENDENCIES_VERSION", "previous")
    dl.load_configured_dependencies()
    import tinylib

    assert tinylib.VALUE == 1

    result = runner.invoke(app, ["deploy", "rollback-deps", "--bucket", s3_bucket])
    assert result.exit_code == 0, result.output
    pointer = json.loads(result.output)
    assert (pointer["version"], pointer["previous"]["version"]) == ("v1", "v2")
    assert dl.resolve_dependencies_key(s3_bucket, version="current") == "python-libs/v1/data-science-libs.zip"

    result = runner.invoke(app, ["deploy", "promote-deps", "--bucket", s3_bucket, "--version", "v2"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["version"] == "v2"


def test_a_version_is_immutable(builds, s3, s3_bucket):
    packaging.upload_package(builds["v1"], s3_bucket)
    impostor = dataclasses.replace(builds["v2"], manifest={**builds["v2"].manifest, "version": "v1"})
    with pytest.raises(PackagingError, match="already exists with sha256 [0-9a-f]{64}, not .* immutable"):
        packaging.upload_package(impostor, s3_bucket)
    packaging.upload_package(impostor, s3_bucket, force=True)
    head = s3.head_object(Bucket=s3_bucket, Key="python-libs/v1/data-science-libs.zip")
    assert head["Metadata"]["sha256"] == builds["v2"].sha256


def test_cli_user_errors_are_one_line(tmp_path, offline, s3, s3_bucket):
    wheelhouse, lock = offline
    cases = [
        (["deploy", "package-deps", "--lock", str(lock)], "error: --bucket (or DEPENDENCIES_BUCKET) is required"),
        (["deploy", "package-deps", "--no-upload", "--packages", "nope", "--lock", str(lock), "--out", str(tmp_path)],
         "error: requirement 'nope' has no version and is not pinned in"),
        (["deploy", "package-deps", "--no-upload", "--packages", "tinylib", "--lock", str(lock),
          "--wheelhouse", str(wheelhouse), "--version", "../up", "--out", str(tmp_path)],
         "error: invalid dependencies version '../up'"),
        (["deploy", "package-deps", "--no-upload", "--glibc", "3.1", "--lock", str(lock)],
         "error: invalid glibc version '3.1'"),
        (["deploy", "rollback-deps", "--bucket", s3_bucket], "error: s3://"),
        (["deploy", "promote-deps", "--bucket", s3_bucket, "--version", "v404"], "error: s3://"),
    ]  # fmt: skip
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith(message), (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1


def test_no_upload_builds_without_s3(tmp_path, offline):
    wheelhouse, lock = offline
    result = runner.invoke(
        app,
        ["deploy", "package-deps", "--no-upload", "--packages", "tinylib", "--lock", str(lock),
         "--wheelhouse", str(wheelhouse), "--out", str(tmp_path / "dist")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [zip_path] = (tmp_path / "dist").glob("*/data-science-libs.zip")
    sha = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    assert zip_path.parent.name == sha[:12]  # the default version: content-addressed
    assert result.output.startswith(f"built {zip_path} version={sha[:12]} sha256={sha}")


# ------------------------------------------------------------------ the Lambda platform (python3.12, AL2023)


@pytest.fixture(scope="module")
def platform_wheels(tmp_path_factory):
    """`fastlib` 1.0.0 as four 'binary' wheels, each saying which one it is; `newlib` only for glibc 2.39."""
    folder = tmp_path_factory.mktemp("platform")
    wheelhouse = folder / "wheelhouse"
    for value, tag in (
        ("al2023", "cp312-cp312-manylinux_2_28_x86_64"),
        ("glibc-2.39", "cp312-cp312-manylinux_2_39_x86_64"),  # newer than Amazon Linux 2023's glibc 2.34
        ("python-3.11", "cp311-cp311-manylinux_2_17_x86_64"),
        ("musl", "cp312-cp312-musllinux_1_2_x86_64"),
    ):
        make_wheel(wheelhouse, "fastlib", "1.0.0", value, tag=tag)
    make_wheel(wheelhouse, "newlib", "1.0.0", "new", tag="cp312-cp312-manylinux_2_39_x86_64")
    lock = folder / "requirements.lock"
    lock.write_text("fastlib==1.0.0\nnewlib==1.0.0\n")
    return wheelhouse, lock


def test_default_platform_takes_the_python312_manylinux_wheel_and_the_loader_imports_it(
    tmp_path, platform_wheels, s3, s3_bucket
):
    wheelhouse, lock = platform_wheels
    result = runner.invoke(
        app,
        ["deploy", "package-deps", "--bucket", s3_bucket, "--packages", "fastlib", "--lock", str(lock),
         "--wheelhouse", str(wheelhouse), "--out", str(tmp_path / "dist")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output

    [zip_path] = (tmp_path / "dist").glob("*/data-science-libs.zip")
    with zipfile.ZipFile(zip_path) as archive:
        wheel = archive.read("fastlib-1.0.0.dist-info/WHEEL").decode()
    assert "Tag: cp312-cp312-manylinux_2_28_x86_64" in wheel
    manifest = json.loads(zip_path.with_name("data-science-libs.zip.manifest.json").read_text())
    assert manifest["python"] == "3.12" and manifest["installed"] == {"fastlib": "1.0.0"}

    folder = dl.load_dependencies(s3_bucket, dl.resolve_dependencies_key(s3_bucket), str(tmp_path / "libs"))
    import fastlib

    assert fastlib.VALUE == "al2023"
    assert Path(fastlib.__file__).parent == folder / "fastlib"


def test_a_library_without_a_wheel_for_the_lambda_platform_is_refused(tmp_path, platform_wheels):
    wheelhouse, lock = platform_wheels
    with pytest.raises(
        PackagingError, match=r"newlib==1\.0\.0.*python3\.12 Lambda runtime is Amazon Linux 2023"
    ):
        packaging.build_package(
            out_dir=tmp_path / "out", packages=["newlib"], lock=lock, wheelhouse=wheelhouse
        )
    with pytest.raises(
        PackagingError, match=r"fastlib==1\.0\.0"
    ):  # only the cp311 wheel is for glibc <= 2.26
        packaging.build_package(
            out_dir=tmp_path / "out",
            packages=["fastlib"],
            lock=lock,
            wheelhouse=wheelhouse,
            platforms=packaging.manylinux_platforms("2.26"),
        )
    assert not list((tmp_path / "out").iterdir())
