"""The object-store contract, run against both backends (a local folder and S3 on the moto server),
plus what only one backend has: bucket setup, SSE and retries on S3; crash safety and the sidecar locally."""

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.awsrequest import AWSResponse

from lake.exceptions import InvalidArgumentValue, ObjectNotFound, PreconditionFailed, StoreUnavailable
from lake.store import NULL_VERSION, LocalStore, ObjectStore, S3Store, lifecycle_rules, open_store
from tests.moto_server import free_port

REPO = Path(__file__).resolve().parents[1]
KEY = "processed/prices/month=2025-01/data.parquet"


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> ObjectStore:
    if request.param == "local":
        store = LocalStore(tmp_path / "lake")
    else:
        bucket = request.getfixturevalue("s3_bucket")
        store = S3Store(f"s3://{bucket}/lake", max_attempts=3)
    store.initialize()
    return store


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


# ---------------------------------------------------------------------------------------------- contract


def test_put_get_head_round_trip_with_metadata_and_tags(store):
    result = store.put(
        KEY,
        b"\x00parquet\xff",
        metadata={"computation-version": "1"},
        tags={"source": "computed", "ticker": "D05.SI"},
    )
    assert result.key == KEY and result.version_id

    got = store.get(KEY)
    assert got.data == b"\x00parquet\xff"
    assert got.info.version_id == result.version_id
    head = store.head(KEY)
    assert head.metadata == {"computation-version": "1"}
    assert head.size == 9 and head.is_latest and head.last_modified.tzinfo is not None
    assert store.get_tags(KEY) == {"source": "computed", "ticker": "D05.SI"}
    assert store.exists(KEY) and not store.exists(KEY + ".missing")


def test_missing_key_and_unknown_version_raise_object_not_found(store):
    with pytest.raises(ObjectNotFound, match="month=2025-01"):
        store.get(KEY)
    store.put(KEY, b"1")
    for version in ("nonexistent", "../../../../etc/passwd", "20990101T000000000000000Z-000000000000"):
        with pytest.raises(ObjectNotFound):
            store.get(KEY, version)


def test_versions_are_kept_newest_first_and_old_ones_stay_readable(store):
    first = store.put(KEY, b"v1", metadata={"n": "1"}, tags={"n": "1"})
    second = store.put(KEY, b"v2", metadata={"n": "2"}, tags={"n": "2"})

    assert store.get(KEY).data == b"v2"
    assert store.get(KEY, first.version_id).data == b"v1"
    assert store.get_tags(KEY, first.version_id) == {"n": "1"}
    versions = store.list_versions(KEY)
    assert [v.version_id for v in versions] == [second.version_id, first.version_id]
    assert [v.is_latest for v in versions] == [True, False]
    assert [v.metadata for v in versions] == [{"n": "2"}, {"n": "1"}]
    assert store.head(KEY, first.version_id).is_latest is False


def test_list_is_key_ordered_latest_only_and_respects_the_prefix(store):
    for key in ("raw/b.json", "raw/a.json", "raw/a.json", "rawx/c.json", "processed/x.parquet"):
        store.put(key, key.encode())
    listed = list(store.list("raw/"))
    assert [info.key for info in listed] == ["raw/a.json", "raw/b.json"]
    assert listed[0].version_id == store.head("raw/a.json").version_id
    assert [info.key for info in store.list("raw")] == ["raw/a.json", "raw/b.json", "rawx/c.json"]
    assert list(store.list("nothing/")) == []


def test_list_returns_every_key_past_one_thousand(store):
    keys = [f"cache/reports/T/{i:05d}.json" for i in range(1050)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: store.put(key, b"x"), keys))
    assert [info.key for info in store.list("cache/")] == keys


def test_concurrent_writers_to_one_key_are_all_kept_and_latest_is_whole(store):
    payloads = {f"writer-{n}".encode() * 2000 for n in range(12)}
    barrier = threading.Barrier(12)

    def write(payload: bytes):
        barrier.wait()
        return store.put(KEY, payload)

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(write, payloads))

    versions = store.list_versions(KEY)
    assert {v.version_id for v in versions} == {r.version_id for r in results}
    assert sum(v.is_latest for v in versions) == 1
    assert store.get(KEY).data in payloads
    assert store.get(KEY).info.version_id == versions[0].version_id
    assert {store.get(KEY, r.version_id).data for r in results} == payloads


def test_etag_is_the_md5_of_the_bytes_on_every_backend(store):
    store.put(KEY, b"v1")
    assert store.head(KEY).etag == store.get(KEY).info.etag == hashlib.md5(b"v1").hexdigest()
    assert store.list_versions(KEY)[0].etag == hashlib.md5(b"v1").hexdigest()
    assert [info.etag for info in store.list("processed/")] == [hashlib.md5(b"v1").hexdigest()]


def test_put_if_match_the_current_etag_writes_a_new_version(store):
    first = store.put(KEY, b"v1")
    second = store.put(KEY, b"v2", if_match=store.head(KEY).etag)
    assert store.get(KEY).data == b"v2"
    assert [v.version_id for v in store.list_versions(KEY)] == [second.version_id, first.version_id]


def test_put_if_match_a_stale_etag_raises_precondition_failed_and_writes_nothing(store):
    store.put(KEY, b"v1")
    stale = store.head(KEY).etag
    store.put(KEY, b"v2")  # another writer went first
    with pytest.raises(PreconditionFailed, match="month=2025-01"):
        store.put(KEY, b"v3", if_match=stale)
    assert store.get(KEY).data == b"v2" and len(store.list_versions(KEY)) == 2


def test_put_if_match_on_a_missing_key_raises_precondition_failed(store):
    with pytest.raises(PreconditionFailed):
        store.put(KEY, b"v1", if_match=hashlib.md5(b"v0").hexdigest())
    assert not store.exists(KEY)


def test_put_if_none_match_writes_a_new_key_once(store):
    first = store.put(KEY, b"v1", if_none_match=True)
    with pytest.raises(PreconditionFailed, match="month=2025-01"):
        store.put(KEY, b"v2", if_none_match=True)
    assert store.get(KEY).data == b"v1"
    assert [v.version_id for v in store.list_versions(KEY)] == [first.version_id]


def test_put_if_match_and_if_none_match_together_are_refused(store):
    with pytest.raises(InvalidArgumentValue, match="exclude each other"):
        store.put(KEY, b"v1", if_match="abc", if_none_match=True)
    assert not store.exists(KEY)


def test_concurrent_conditional_puts_on_one_etag_let_exactly_one_win(store):
    store.put(KEY, b"v0")
    etag = store.head(KEY).etag
    barrier = threading.Barrier(8)

    def write(n: int):
        barrier.wait()
        try:
            return store.put(KEY, b"writer-%d" % n, if_match=etag)
        except PreconditionFailed:
            return None

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(write, range(8)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert store.head(KEY).version_id == winners[0].version_id
    assert len(store.list_versions(KEY)) == 2


def test_delete_hides_the_key_but_keeps_its_versions(store):
    key = "cache/reports/D05.SI/2025-01-02/report.json"
    first = store.put(key, b"{}")
    store.delete(key)
    assert not store.exists(key)
    assert [info.key for info in store.list("cache/")] == []
    assert store.get(key, first.version_id).data == b"{}"
    store.put(key, b"{1}")
    assert store.get(key).data == b"{1}"


HOSTILE_KEYS = [
    "",
    "/abs",
    "a//b",
    "a/../b",
    "../x",
    "a/./b",
    "a\\b",
    "a/b/",
    "bad\nkey",
    ".tickerlake/versions/x",
]


def test_hostile_keys_are_refused(store):
    for key in HOSTILE_KEYS:
        with pytest.raises(InvalidArgumentValue, match="object key"):
            store.put(key, b"x")
        with pytest.raises(InvalidArgumentValue):
            store.get(key)
        with pytest.raises(InvalidArgumentValue):
            store.list_versions(key)
    assert list(store.list("")) == []


def test_tags_and_metadata_follow_s3_rules_on_every_backend(store):
    with pytest.raises(InvalidArgumentValue, match="tag"):
        store.put(KEY, b"x", tags={"reason": "quote ' not allowed"})
    with pytest.raises(InvalidArgumentValue, match="metadata name"):
        store.put(KEY, b"x", metadata={"Upper_Case": "v"})
    with pytest.raises(InvalidArgumentValue, match="printable ASCII"):
        store.put(KEY, b"x", metadata={"reason": "caf\u00e9"})
    assert not store.exists(KEY)


def test_presigned_url_names_the_key_and_expiry_is_checked(store):
    store.put(KEY, b"x")
    url = store.presigned_url(KEY, 60)
    assert "month%3D2025-01" in url or "month=2025-01" in url
    with pytest.raises(InvalidArgumentValue, match="expiry"):
        store.presigned_url(KEY, 8 * 24 * 3600)


def test_initialize_is_idempotent(store):
    again = store.initialize()
    assert not any(line.startswith(("created", "enabled", "set ", "blocked")) for line in again), again


def test_arrow_filesystem_reads_the_latest_object(store):
    store.put(KEY, b"old")
    store.put(KEY, b"new")
    filesystem, base = store.arrow_filesystem()
    with filesystem.open_input_stream(f"{base}/{KEY}") as stream:
        assert stream.read() == b"new"


# ---------------------------------------------------------------------------------------------- S3 only


@pytest.fixture
def s3(s3_bucket) -> S3Store:
    store = S3Store(f"s3://{s3_bucket}/lake", max_attempts=3)
    store.initialize()
    return store


def test_s3_every_put_asks_for_sse_even_without_bucket_default_encryption(s3_bucket):
    store = S3Store(f"s3://{s3_bucket}/lake", max_attempts=3)
    store.client.create_bucket(Bucket=s3_bucket)  # no init: no default encryption to fall back on
    store.put(KEY, b"x")
    head = store.client.head_object(Bucket=s3_bucket, Key=f"lake/{KEY}")
    assert head["ServerSideEncryption"] == "AES256"
    assert store.head(KEY).version_id == "null"  # and without versioning, S3's own null version id


def test_s3_init_sets_versioning_encryption_public_access_block_and_lifecycle(s3):
    client, bucket = s3.client, s3.bucket
    assert client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = client.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = client.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
    )
    lifecycle = {
        rule["ID"]: rule for rule in client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    }
    for area in ("raw", "processed"):
        rule = lifecycle[f"tickerlake-{area}-archive"]
        assert rule["Filter"]["Prefix"] == f"lake/{area}/"
        # current versions stay readable (month objects are read for years); old versions are archived
        assert [(t["Days"], t["StorageClass"]) for t in rule["Transitions"]] == [(90, "STANDARD_IA")]
        assert [(t["NoncurrentDays"], t["StorageClass"]) for t in rule["NoncurrentVersionTransitions"]] == [
            (90, "GLACIER")
        ]
    assert lifecycle["tickerlake-cache-expire"]["Expiration"]["Days"] == 1
    assert lifecycle["tickerlake-reports-expire"]["Expiration"]["Days"] == 30
    assert lifecycle["tickerlake-cache-expire"]["Filter"]["Prefix"] == "lake/cache/"


def test_s3_init_keeps_lifecycle_rules_of_others_and_repairs_ours(s3):
    foreign = {
        "ID": "someone-else",
        "Filter": {"Prefix": "other/"},
        "Status": "Enabled",
        "Expiration": {"Days": 5},
    }
    s3.client.put_bucket_lifecycle_configuration(
        Bucket=s3.bucket, LifecycleConfiguration={"Rules": [foreign, *lifecycle_rules("lake")[1:]]}
    )
    done = s3.initialize()
    assert any(line.startswith("set lifecycle") for line in done)
    ids = {rule["ID"] for rule in s3.client.get_bucket_lifecycle_configuration(Bucket=s3.bucket)["Rules"]}
    assert {"someone-else", "tickerlake-raw-archive"} <= ids


def test_s3_keys_live_under_the_uri_prefix(s3):
    s3.put("raw/a.json", b"x")
    keys = [o["Key"] for o in s3.client.list_objects_v2(Bucket=s3.bucket)["Contents"]]
    assert keys == ["lake/raw/a.json"]
    assert [info.key for info in s3.list("")] == ["raw/a.json"]


def test_s3_presigned_url_expires(s3):
    url = s3.presigned_url(KEY, 120)
    assert "X-Amz-Expires=120" in url and url.startswith(s3.endpoint_url)


def test_s3_arrow_filesystem_uses_the_endpoint(s3):
    filesystem, base = s3.arrow_filesystem()
    assert base == f"{s3.bucket}/lake"
    assert type(filesystem).__name__ == "S3FileSystem"
    options = filesystem.__reduce__()[1][0]
    assert (options["scheme"], options["endpoint_override"]) == (
        "http",
        s3.endpoint_url.removeprefix("http://"),
    )


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, *args, **kwargs):
        yield self.body


def _throttle(times: int):
    calls = []

    def handler(request, **kwargs):
        calls.append(1)
        if len(calls) <= times:
            body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            return AWSResponse(request.url, 503, {}, _Raw(body))
        return None

    return handler, calls


def test_s3_throttling_is_retried_with_backoff(s3):
    handler, calls = _throttle(times=2)
    s3.client.meta.events.register("before-send.s3.PutObject", handler)
    assert s3.put(KEY, b"x").version_id
    assert len(calls) == 3 and s3.get(KEY).data == b"x"


def test_s3_throttling_past_the_retries_names_endpoint_and_key(s3):
    handler, calls = _throttle(times=100)
    s3.client.meta.events.register("before-send.s3.PutObject", handler)
    with pytest.raises(StoreUnavailable) as error:
        s3.put(KEY, b"x")
    assert len(calls) == 3
    assert s3.endpoint_url in str(error.value) and KEY in str(error.value)


def test_s3_stopped_endpoint_fails_in_seconds_naming_endpoint_and_key(moto_server):
    endpoint = f"http://127.0.0.1:{free_port()}"
    store = S3Store("s3://nowhere-bucket/lake", endpoint_url=endpoint, max_attempts=2)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as error:
        store.put(KEY, b"x")
    assert time.monotonic() - started < 10
    assert endpoint in str(error.value) and KEY in str(error.value)


def test_s3_missing_bucket_says_to_run_init(s3_bucket):
    store = S3Store(f"s3://{s3_bucket}", max_attempts=1)
    with pytest.raises(StoreUnavailable, match="tickerlake init"):
        store.put(KEY, b"x")


def test_s3_upload_killed_midway_leaves_no_object(s3):
    result = _run(
        f"""
        import http.client, os, signal
        from lake.store import S3Store
        sent = 0
        original = http.client.HTTPConnection.send
        def send(self, data):
            global sent
            sent += len(data) if hasattr(data, "__len__") else 0
            if sent > 1_000_000:
                print("killed after", sent, flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
            return original(self, data)
        http.client.HTTPConnection.send = send
        S3Store("s3://{s3.bucket}/lake", max_attempts=1).put("{KEY}", b"x" * 8_000_000)
        """
    )
    assert result.returncode == -9 and "killed after" in result.stdout, result.stderr
    assert not s3.exists(KEY)
    assert list(s3.list("processed/")) == [] and s3.list_versions(KEY) == []
    assert s3.put(KEY, b"next").version_id and s3.get(KEY).data == b"next"


# ---------------------------------------------------------------------------------------------- local only


def test_local_glob_sees_only_the_latest_version_and_no_sidecar(tmp_path):
    store = LocalStore(tmp_path / "lake")
    for n in range(3):
        store.put(KEY, f"v{n}".encode())
    found = sorted((tmp_path / "lake").glob("processed/**/*.parquet"))
    assert found == [tmp_path / "lake" / KEY]
    assert found[0].read_bytes() == b"v2"
    assert len(store.list_versions(KEY)) == 3


def test_local_versions_tags_and_metadata_survive_a_restart(tmp_path):
    first = LocalStore(tmp_path / "lake").put(KEY, b"v1", metadata={"n": "1"}, tags={"n": "1"})
    LocalStore(tmp_path / "lake").put(KEY, b"v2", metadata={"n": "2"}, tags={"n": "2"})
    reopened = open_store(f"file://{tmp_path / 'lake'}")
    assert [v.metadata["n"] for v in reopened.list_versions(KEY)] == ["2", "1"]
    assert reopened.get(KEY, first.version_id).data == b"v1"
    assert reopened.get_tags(KEY) == {"n": "2"}


def test_local_version_ids_sort_in_write_order(tmp_path):
    store = LocalStore(tmp_path / "lake")
    ids = [store.put(KEY, b"x").version_id for _ in range(50)]
    assert ids == sorted(ids) and len(set(ids)) == 50


_KILL_POINTS = {
    # after the temp file is written and fsynced, as the version's own copy moves into the sidecar
    "after-temp-file": ".data",
    # after the version record is written, just before the rename that publishes the file
    "before-publish": "data.parquet",
}


@pytest.mark.parametrize("point", sorted(_KILL_POINTS))
@pytest.mark.parametrize("had_version", [False, True])
def test_local_write_killed_midway_leaves_nothing_visible(tmp_path, point, had_version):
    root = tmp_path / "lake"
    store = LocalStore(root)
    previous = store.put(KEY, b"previous") if had_version else None
    result = _run(
        f"""
        import os, signal
        from lake.store import LocalStore
        suffix = {_KILL_POINTS[point]!r}
        original = os.replace
        def crash(src, dst, *args, **kwargs):
            if str(dst).endswith(suffix):
                os.kill(os.getpid(), signal.SIGKILL)
            return original(src, dst, *args, **kwargs)
        os.replace = crash
        LocalStore({str(root)!r}).put({KEY!r}, b"half" * 1_000_000)
        """
    )
    assert result.returncode == -9, result.stderr
    assert list((root / ".tickerlake" / "tmp").iterdir())  # the killed writer's temp file is left behind...
    assert sorted(root.glob("processed/**/*.parquet")) == ([root / KEY] if had_version else [])  # ...unseen
    assert [info.key for info in store.list("")] == ([KEY] if had_version else [])
    if had_version:
        assert store.get(KEY).data == b"previous"
        assert [v.version_id for v in store.list_versions(KEY)] == [previous.version_id]
    else:
        assert not store.exists(KEY) and store.list_versions(KEY) == []

    after = store.put(KEY, b"next")
    assert store.get(KEY).data == b"next"
    assert [v.version_id for v in store.list_versions(KEY)][0] == after.version_id
    assert len(store.list_versions(KEY)) == (2 if had_version else 1)


def test_a_stored_version_does_not_change_when_the_visible_file_is_changed_in_place(tmp_path):
    store = LocalStore(tmp_path / "lake")
    first = store.put(KEY, b"first version")
    with open(tmp_path / "lake" / KEY, "r+b") as visible:  # truncated in place: same inode
        visible.truncate(5)
    assert store.get(KEY, first.version_id).data == b"first version"
    assert store.get(KEY).data == b"first"  # what is visible now is no version the store wrote...
    assert store.head(KEY).version_id == NULL_VERSION
    second = store.put(KEY, b"second version")  # ...and is kept as a version of its own by the next write
    versions = [v.version_id for v in store.list_versions(KEY)]
    assert versions[0] == second.version_id and first.version_id in versions and len(versions) == 3
    assert store.get(KEY, first.version_id).data == b"first version"


def test_a_damaged_version_record_is_skipped_naming_its_file_and_the_others_stay_readable(tmp_path, caplog):
    store = LocalStore(tmp_path / "lake")
    first = store.put(KEY, b"one")
    second = store.put(KEY, b"two")
    record = next((tmp_path / "lake" / ".tickerlake" / "versions").rglob(f"{first.version_id}.json"))
    record.write_text("")  # emptied
    third = store.put(KEY, b"three")
    assert [v.version_id for v in store.list_versions(KEY)] == [third.version_id, second.version_id]
    [warning] = [r for r in caplog.records if r.getMessage().startswith("damaged version record skipped")]
    assert warning.path == str(record) and warning.error
    assert store.get(KEY).data == b"three" and store.get(KEY, second.version_id).data == b"two"


def test_local_initialize_removes_stale_temp_files(tmp_path):
    store = LocalStore(tmp_path / "lake")
    store.initialize()
    stale = tmp_path / "lake" / ".tickerlake" / "tmp" / "1-dead.tmp"
    stale.write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    assert any("removed 1 temp file" in line for line in store.initialize())
    assert not stale.exists()


def test_local_concurrent_writer_processes_are_all_kept(tmp_path):
    root = tmp_path / "lake"
    go = tmp_path / "go"
    code = f"""
        import os, sys, time
        from lake.store import LocalStore
        store = LocalStore({str(root)!r})
        while not os.path.exists({str(go)!r}):
            time.sleep(0.005)
        for n in range(10):
            store.put({KEY!r}, (f"process-{{sys.argv[1]}}-{{n}}|" * 5000).encode())
    """
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), str(p)], cwd=REPO, env=os.environ.copy()
        )
        for p in range(4)
    ]
    time.sleep(0.5)
    go.touch()
    assert [w.wait(60) for w in workers] == [0, 0, 0, 0]

    store = LocalStore(root)
    versions = store.list_versions(KEY)
    assert len(versions) == 40 and versions[0].is_latest
    contents = {store.get(KEY, v.version_id).data for v in versions}
    assert contents == {(f"process-{p}-{n}|" * 5000).encode() for p in range(4) for n in range(10)}
    assert store.get(KEY).data == store.get(KEY, versions[0].version_id).data
    assert (root / KEY).read_bytes() == store.get(KEY).data


def test_local_file_not_written_by_the_store_is_adopted_not_lost(tmp_path):
    root = tmp_path / "lake"
    (root / "raw").mkdir(parents=True)
    (root / "raw" / "dropped.json").write_bytes(b"by hand")
    store = LocalStore(root)
    assert store.head("raw/dropped.json").version_id == NULL_VERSION
    store.put("raw/dropped.json", b"by the store")
    versions = store.list_versions("raw/dropped.json")
    assert [store.get("raw/dropped.json", v.version_id).data for v in versions] == [
        b"by the store",
        b"by hand",
    ]


def test_local_lake_copied_without_hard_links_keeps_its_latest_version(tmp_path):
    store = LocalStore(tmp_path / "lake")
    store.put(KEY, b"v1")
    latest = store.put(KEY, b"v2")
    shutil.copytree(tmp_path / "lake", tmp_path / "copy")
    copy = LocalStore(tmp_path / "copy")
    assert copy.head(KEY).version_id == latest.version_id
    assert [v.is_latest for v in copy.list_versions(KEY)] == [True, False]


def test_local_key_that_is_also_a_folder_is_refused(tmp_path):
    store = LocalStore(tmp_path / "lake")
    store.put("a/b", b"x")
    with pytest.raises(InvalidArgumentValue, match="local folder"):
        store.put("a", b"x")
    with pytest.raises(InvalidArgumentValue, match="local folder"):
        store.put("a/b/c", b"x")


def test_local_store_refuses_a_python_package_as_lake_folder():
    with pytest.raises(InvalidArgumentValue, match="Python package"):
        LocalStore(REPO / "src" / "lake")


def test_object_store_declares_every_capability_abstract():
    assert {"put", "get", "head", "list", "list_versions", "get_tags", "delete", "presigned_url"} | {
        "initialize",
        "arrow_filesystem",
    } <= ObjectStore.__abstractmethods__

    class PutOnly(ObjectStore):
        def put(self, key, data, **kwargs):
            raise NotImplementedError

    with pytest.raises(TypeError, match="abstract"):
        PutOnly()
    assert not LocalStore.__abstractmethods__ and not S3Store.__abstractmethods__


@pytest.mark.parametrize("uri", ["http://example.com/x", "s3://", "s3://UPPER/x", "file://host/x", "  "])
def test_open_store_refuses_bad_uris(uri):
    with pytest.raises(InvalidArgumentValue, match="not valid"):
        open_store(uri)


def test_open_store_defaults_to_the_configured_lake(tmp_path, monkeypatch):
    monkeypatch.setenv("TICKERLAKE_LAKE_URI", str(tmp_path / "configured"))
    assert open_store().uri == (tmp_path / "configured").as_uri()
