"""Shared fixtures: the moto server (one process per test worker) and isolated environments."""

import itertools
import os

import pytest

from tests.moto_server import MotoServer, free_port

_bucket_numbers = itertools.count()


@pytest.fixture(scope="session")
def moto_server():
    """A moto server process on a free 127.0.0.1 port for the whole test session (per xdist worker)."""
    server = MotoServer(free_port()).start()
    saved = {name: os.environ.get(name) for name in server.env()}
    os.environ.update(server.env())
    yield server
    server.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def s3_bucket(moto_server) -> str:
    """A fresh, empty bucket name on the moto server (created by the code under test or by the caller)."""
    return f"tickerlake-test-{os.getpid()}-{next(_bucket_numbers)}"


@pytest.fixture(params=["local", "s3"])
def lake(request, tmp_path):
    """An initialised lake on each backend: a local folder, then a bucket on the moto server."""
    from lake.api import Lake
    from lake.store import LocalStore, S3Store

    if request.param == "local":
        store = LocalStore(tmp_path / "lake")
    else:
        store = S3Store(f"s3://{request.getfixturevalue('s3_bucket')}/tl", max_attempts=3)
    opened = Lake(store)
    opened.init()
    return opened


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test reads the developer's configuration or writes the developer's cache/lake."""
    for name in (
        "TICKERLAKE_LAKE_URI",
        "TICKERLAKE_DEPLOYMENT",
        "CACHE_BACKEND",
        "PDF_BUCKET_NAME",
        "LINE_CHANNEL_SECRET",
        "LINE_CHANNEL_ACCESS_TOKEN",
        "OPENAI_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    # Set, then removed: monkeypatch then also undoes a value the code under test sets (`run --universe`).
    for name in ("TICKERLAKE_UNIVERSE", "TICKERLAKE_PARTITIONS_START"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("CACHE_SQLITE_PATH", str(tmp_path / "cache" / "cache.db"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server on a free 127.0.0.1 port for the whole session (per xdist worker). Without the
    binaries: skipped on a developer's machine, a failure where TICKERLAKE_REQUIRE_POSTGRES is set (CI)."""
    from tests.postgres_server import REQUIRE_ENV, PostgresServer, find_binaries

    bin_dir = find_binaries()
    if bin_dir is None:
        message = "PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{message} ({REQUIRE_ENV} is set)")
        pytest.skip(message)
    server = PostgresServer(bin_dir).start()
    yield server
    server.stop()
