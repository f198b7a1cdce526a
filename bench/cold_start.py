"""Cold start: `load_dependencies` with a ~75 MB zip from a moto server, against the floor of a bare
download (boto3 GET streamed to a file) + `zipfile.extractall`; and the warm call (same process).

The zip is built from this venv's real libraries (numpy, pandas, pyarrow, ...), deflated, so entry count
and compression ratio are those of a real dependency package. Cold and floor runs are interleaved.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import sysconfig
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from bench._common import REPO, child_main, log, p50, run_child

MODULE = "bench.cold_start"
BUCKET = "tickerlake-bench-deps"
KEY = "python-libs/bench/data-science-libs.zip"
LIBRARIES = (
    "numpy",
    "pandas",
    "pyarrow",
    "matplotlib",
    "reportlab",
    "PIL",
    "dateutil",
    "pytz",
    "kiwisolver",
    "fontTools",
    "duckdb",
    "sqlglot",
    "pandera",
    "botocore",
)


def build_zip(target_mb: float, path: Path) -> tuple[int, int]:
    """A deflated zip of installed libraries, stopping once it reaches `target_mb`; (bytes, entries)."""
    site = Path(sysconfig.get_paths()["purelib"])
    limit = int(target_mb * 1024 * 1024)
    entries = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for library in LIBRARIES:
            folder = site / library
            if not folder.is_dir():
                continue
            for file in sorted(folder.rglob("*")):
                if not file.is_file() or file.is_symlink() or "__pycache__" in file.parts:
                    continue
                archive.write(file, file.relative_to(site).as_posix())
                entries += 1
                if entries % 200 == 0 and path.stat().st_size >= limit:
                    return path.stat().st_size, entries
    return path.stat().st_size, entries


def task_cold(args: dict[str, Any]) -> dict[str, Any]:
    import boto3

    sys.path.insert(0, str(REPO))
    from tests.moto_server import MotoServer, free_port

    server = MotoServer(free_port()).start()
    try:
        os.environ.update(server.env())
        from report_app import dependency_loader as dl

        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        with tempfile.TemporaryDirectory(prefix="tickerlake-bench-cold-") as root:
            archive = Path(root) / "deps.zip"
            size, entries = build_zip(args["zip_mb"], archive)
            data = archive.read_bytes()
            client.put_object(
                Bucket=BUCKET,
                Key=KEY,
                Body=data,
                ServerSideEncryption="AES256",
                Metadata={"sha256": hashlib.sha256(data).hexdigest(), "size": str(len(data))},
            )
            del data
            saved_path = list(sys.path)
            cold, floor = [], []
            for rep in range(args["reps"] + 1):
                target = Path(root) / f"libs-{rep}"
                dl._LOADED.clear()
                dl._ACTIVE.clear()
                started = time.perf_counter()
                dl.load_dependencies(BUCKET, KEY, str(target), s3_client=client)
                cold.append(time.perf_counter() - started)
                sys.path[:] = saved_path
                shutil.rmtree(target, ignore_errors=True)

                bare = Path(root) / f"bare-{rep}"
                bare.mkdir()
                started = time.perf_counter()
                body = client.get_object(Bucket=BUCKET, Key=KEY)["Body"]
                with open(bare / "deps.zip", "wb") as out:
                    for chunk in body.iter_chunks(1024 * 1024):
                        out.write(chunk)
                with zipfile.ZipFile(bare / "deps.zip") as unpacked:
                    unpacked.extractall(bare / "libs")
                floor.append(time.perf_counter() - started)
                shutil.rmtree(bare, ignore_errors=True)
            cold, floor = cold[1:], floor[1:]  # the first pair warms the client and the page cache

            target = Path(root) / "libs-warm"
            dl.load_dependencies(BUCKET, KEY, str(target), s3_client=client)
            warm = []
            for _ in range(1000):
                started = time.perf_counter()
                dl.load_dependencies(BUCKET, KEY, str(target), s3_client=client)
                warm.append(time.perf_counter() - started)
            sys.path[:] = saved_path
    finally:
        server.stop()
    cold_s, floor_s = p50(cold), p50(floor)
    return {
        "zip_mb": round(size / 1024 / 1024, 1),
        "zip_entries": entries,
        "cold_s": round(cold_s, 3),
        "floor_s": round(floor_s, 3),
        "ratio": round(cold_s / floor_s, 2),
        "warm_ms": round(p50(warm) * 1000, 4),
        "cold_samples_s": [round(s, 3) for s in cold],
        "floor_samples_s": [round(s, 3) for s in floor],
    }


def measure(config: dict[str, Any]) -> dict[str, Any]:
    log(f"cold_start: {config['zip_mb']} MB zip, {config['reps']} cold loads vs bare download + unzip")
    found = run_child(MODULE, "cold", config)
    log(f"cold_start: cold {found['cold_s']} s, floor {found['floor_s']} s, warm {found['warm_ms']} ms")
    return found


if __name__ == "__main__":
    child_main({"cold": task_cold})
