"""The lake's object store: one small protocol, two backends (a local folder, S3 through boto3).

`open_store(uri)` picks the backend from the lake URI:

- `s3://bucket[/prefix]` -> `S3Store` (endpoint from `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`);
- `file:///abs/path` or a plain path -> `LocalStore`.

Examples
--------
>>> from lake.store import open_store
>>> store = open_store("/tmp/lake")  # doctest: +SKIP
>>> store.put("cache/reports/NVDA/2025-01-02/report.json", b"{}", tags={"kind": "report"})  # doctest: +SKIP
PutResult(key='cache/reports/NVDA/2025-01-02/report.json', version_id='20250102T...Z-...')
"""

from urllib.parse import unquote, urlsplit

from lake.exceptions import InvalidArgumentValue
from lake.store._base import (
    MAX_PRESIGNED_SECONDS,
    NULL_VERSION,
    ObjectInfo,
    ObjectStore,
    PutResult,
    StoredObject,
    check_key,
)
from lake.store._local import LocalStore
from lake.store._s3 import S3Store, lifecycle_rules, parse_s3_uri

__all__ = [
    "MAX_PRESIGNED_SECONDS",
    "NULL_VERSION",
    "LocalStore",
    "ObjectInfo",
    "ObjectStore",
    "PutResult",
    "S3Store",
    "StoredObject",
    "check_key",
    "lifecycle_rules",
    "open_store",
    "parse_s3_uri",
]


def open_store(uri: str | None = None) -> ObjectStore:
    """The store for a lake URI; None means `Settings.from_env().lake_uri` (TICKERLAKE_LAKE_URI, ./lake)."""
    if uri is None:
        from lake.config import Settings

        uri = Settings.from_env().lake_uri
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidArgumentValue(
            f"lake URI {uri!r} is not valid: expected s3://bucket/prefix, file:///path or a path"
        )
    if uri.startswith("s3://"):
        return S3Store(uri)
    if uri.startswith("file:"):
        parts = urlsplit(uri)
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise InvalidArgumentValue(f"lake URI {uri!r} is not valid: expected file:///absolute/path")
        return LocalStore(unquote(parts.path))
    if "://" in uri:
        raise InvalidArgumentValue(
            f"lake URI {uri!r} is not valid: expected s3://bucket/prefix, file:///path or a path"
        )
    return LocalStore(uri)
