"""S3Store: the lake in an S3 bucket (or any S3 API: the moto server in tests) through boto3.

The endpoint comes from the standard variables `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`, which boto3
reads itself; credentials and region from the usual AWS chain. Every PUT asks for SSE (AES256). Throttling,
5xx answers and connection errors are retried with backoff by botocore's retry modes; when the retries are
exhausted the caller gets StoreUnavailable naming the endpoint and the key. Timeouts are short so that a
stopped endpoint fails in seconds.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import boto3
import botocore.exceptions as bce
from botocore.config import Config

from lake.exceptions import (
    InvalidArgumentValue,
    LakeError,
    ObjectNotFound,
    PreconditionFailed,
    StoreUnavailable,
)
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

logger = logging.getLogger("tickerlake.lake.store")

SSE_ALGORITHM = "AES256"
_BUCKET_RE = re.compile(r"(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_NOT_FOUND = {"NoSuchKey", "NoSuchVersion", "404", "NotFound"}
_UNAVAILABLE = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
    "500",
    "502",
    "503",
    "504",
}
_CONNECTION_ERRORS = (
    bce.EndpointConnectionError,
    bce.ConnectTimeoutError,
    bce.ReadTimeoutError,
    bce.ConnectionClosedError,
    bce.ProxyConnectionError,
    bce.ConnectionError,
    bce.ResponseStreamingError,
    bce.IncompleteReadError,
)
_BODY_READ_ATTEMPTS = 3


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """('bucket', 'prefix') of `s3://bucket/prefix`; the prefix has no leading or trailing '/'."""
    parts = urlsplit(uri)
    if parts.scheme != "s3" or parts.query or parts.fragment:
        raise InvalidArgumentValue(f"lake URI {uri!r} is not valid: expected s3://bucket[/prefix]")
    bucket, prefix = parts.netloc, parts.path.strip("/")
    if not _BUCKET_RE.fullmatch(bucket):
        raise InvalidArgumentValue(
            f"bucket {bucket!r} in {uri!r} is not valid: expected 3-63 characters of a-z, 0-9, '.', '-'"
        )
    if prefix:
        check_key(prefix)
    return bucket, prefix


def lifecycle_rules(prefix: str) -> list[dict[str, Any]]:
    """The seed system's lifecycle, under the lake's prefix.

    raw/ and processed/ go to STANDARD_IA at 90 days (still instantly readable: a month object and a
    backfill's fetch are read for years by warm-ups, backfills and queries, and GetObject refuses a
    GLACIER object until it is restored) and their noncurrent versions to GLACIER at 90 days; cache/
    expires after 1 day and reports/ after 30 (their noncurrent versions too: the bucket is versioned, and
    an expired cache entry would otherwise linger as an old version forever); unfinished multipart uploads
    are aborted after 7 days.
    """
    base = f"{prefix}/" if prefix else ""
    rules: list[dict[str, Any]] = []
    for area in ("raw", "processed"):
        rules.append(
            {
                "ID": f"tickerlake-{area}-archive",
                "Filter": {"Prefix": f"{base}{area}/"},
                "Status": "Enabled",
                "Transitions": [{"Days": 90, "StorageClass": "STANDARD_IA"}],
                "NoncurrentVersionTransitions": [{"NoncurrentDays": 90, "StorageClass": "GLACIER"}],
            }
        )
    for area, days in (("cache", 1), ("reports", 30)):
        rules.append(
            {
                "ID": f"tickerlake-{area}-expire",
                "Filter": {"Prefix": f"{base}{area}/"},
                "Status": "Enabled",
                "Expiration": {"Days": days},
                "NoncurrentVersionExpiration": {"NoncurrentDays": days},
            }
        )
    rules.append(
        {
            "ID": "tickerlake-abort-incomplete-uploads",
            "Filter": {"Prefix": base},
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        }
    )
    return rules


def _utc(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _etag(value: str | None) -> str | None:
    return value.strip('"') if value else None


class S3Store(ObjectStore):
    """The object-store protocol over `s3://bucket/prefix`: keys live under the prefix.

    Parameters
    ----------
    uri:
        `s3://bucket` or `s3://bucket/prefix`.
    endpoint_url:
        Overrides the endpoint; by default boto3 reads `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`.
    region_name:
        By default the AWS chain's region (`AWS_REGION`, profile), else us-east-1.
    max_attempts, retry_mode:
        botocore retries (first call included) for throttling, 5xx and connection errors, with backoff.
    connect_timeout, read_timeout:
        Seconds; short, so a stopped endpoint fails fast.

    Examples
    --------
    >>> store = S3Store("s3://my-lake/prod")  # doctest: +SKIP
    >>> store.initialize()  # doctest: +SKIP
    ['created bucket my-lake', 'enabled versioning', ...]
    """

    def __init__(
        self,
        uri: str,
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        max_attempts: int = 5,
        retry_mode: str = "standard",
        connect_timeout: float = 2.0,
        read_timeout: float = 20.0,
        max_pool_connections: int = 32,
    ):
        self.bucket, self.prefix = parse_s3_uri(uri)
        self.uri = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        self.max_attempts = max_attempts
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._session = boto3.session.Session(region_name=region_name)
        self._config = Config(
            # total_max_attempts counts the first call too (botocore's max_attempts would not)
            retries={"total_max_attempts": max_attempts, "mode": retry_mode},
            signature_version="s3v4",  # presigned URLs: SigV4, with X-Amz-Expires
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=max_pool_connections,
            region_name=self._session.region_name or "us-east-1",
        )
        self._client = self._session.client("s3", endpoint_url=endpoint_url, config=self._config)
        self.endpoint_url: str = self._client.meta.endpoint_url
        self.region_name: str = self._client.meta.region_name
        # Only an explicitly configured endpoint is passed on to pyarrow; otherwise it finds AWS itself.
        self._endpoint_override = (
            endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        )

    def __repr__(self) -> str:
        return f"S3Store({self.uri!r}, endpoint={self.endpoint_url!r})"

    @property
    def client(self) -> Any:
        """The boto3 S3 client (thread-safe), for callers that need an operation the protocol lacks."""
        return self._client

    # ------------------------------------------------------------------ keys

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _relative(self, full_key: str) -> str:
        return full_key[len(self.prefix) + 1 :] if self.prefix else full_key

    # ------------------------------------------------------------------ calls and errors

    def _call(
        self, operation: str, key: str, version_id: str | None, method: Callable[..., Any], **kwargs
    ) -> Any:
        try:
            return method(**kwargs)
        except (bce.ClientError, bce.BotoCoreError) as exc:
            raise self._translate(exc, operation, key, version_id) from exc

    def _translate(self, exc: Exception, operation: str, key: str, version_id: str | None) -> Exception:
        where = f"{self.uri}/{key}" if key else self.uri
        if isinstance(exc, bce.ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or status == 412:
                return PreconditionFailed(
                    f"{where} changed since it was read (another writer went first): {code}"
                )
            if code == "NoSuchBucket":
                return StoreUnavailable(
                    f"bucket {self.bucket!r} does not exist at {self.endpoint_url}: "
                    f"run `tickerlake init --lake {self.uri}`"
                )
            if code in _NOT_FOUND or (version_id and code == "InvalidArgument"):
                return ObjectNotFound(f"{where} (version {version_id or 'latest'}) does not exist")
            if code in _UNAVAILABLE or (isinstance(status, int) and status >= 500):
                return StoreUnavailable(
                    f"S3 at {self.endpoint_url} kept refusing {operation} {where} after "
                    f"{self.max_attempts} attempts: {code} {error.get('Message', '')}".rstrip()
                )
            return LakeError(
                f"S3 {operation} {where} at {self.endpoint_url} failed: {code} {error.get('Message', '')}"
            )
        if isinstance(exc, bce.NoCredentialsError):
            return StoreUnavailable(
                f"no AWS credentials found for {operation} {where} at {self.endpoint_url}"
            )
        if isinstance(exc, _CONNECTION_ERRORS):
            return StoreUnavailable(
                f"S3 endpoint {self.endpoint_url} unreachable for {operation} {where} after "
                f"{self.max_attempts} attempts: {exc}"
            )
        return LakeError(f"S3 {operation} {where} at {self.endpoint_url} failed: {exc}")

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
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._full(key),
            "Body": bytes(data),
            "ServerSideEncryption": SSE_ALGORITHM,
            "Metadata": check_metadata(metadata),
        }
        tags = check_tags(tags)
        if tags:
            kwargs["Tagging"] = urlencode(tags)
        if content_type:
            kwargs["ContentType"] = content_type
        if if_match is not None:
            kwargs["IfMatch"] = f'"{if_match}"'
        elif if_none_match:
            kwargs["IfNoneMatch"] = "*"
        try:
            response = self._call("PUT", key, None, self._client.put_object, **kwargs)
        except ObjectNotFound:  # S3 answers If-Match on an absent key (or a delete marker) with 404
            if if_match is None:
                raise
            raise PreconditionFailed(
                f"{self.uri}/{key} changed since it was read (ETag {if_match} expected, the key is gone)"
            ) from None
        return PutResult(key=key, version_id=response.get("VersionId") or NULL_VERSION)

    def delete(self, key: str) -> None:
        """Delete the key (a delete marker in a versioned bucket; its versions stay readable by id)."""
        key = check_key(key)
        self._call("DELETE", key, None, self._client.delete_object, Bucket=self.bucket, Key=self._full(key))

    # ------------------------------------------------------------------ reads

    def _version_kwargs(self, key: str, version_id: str | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self._full(key)}
        if version_id is not None:
            if not isinstance(version_id, str) or not version_id:
                raise ObjectNotFound(f"{self.uri}/{key} (version {version_id!r}) does not exist")
            kwargs["VersionId"] = version_id
        return kwargs

    def _is_latest(self, key: str, version_id: str | None) -> bool:
        if version_id is None:
            return True
        try:
            return self.head(key).version_id == version_id
        except ObjectNotFound:  # the key's latest version is a delete marker
            return False

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo:
        key = check_key(key)
        response = self._call(
            "HEAD", key, version_id, self._client.head_object, **self._version_kwargs(key, version_id)
        )
        return ObjectInfo(
            key=key,
            version_id=response.get("VersionId") or NULL_VERSION,
            size=response["ContentLength"],
            last_modified=_utc(response["LastModified"]),
            metadata=dict(response.get("Metadata") or {}),
            is_latest=self._is_latest(key, version_id),
            etag=_etag(response.get("ETag")),
        )

    def get(self, key: str, version_id: str | None = None) -> StoredObject:
        key = check_key(key)
        kwargs = self._version_kwargs(key, version_id)
        for attempt in range(1, _BODY_READ_ATTEMPTS + 1):
            response = self._call("GET", key, version_id, self._client.get_object, **kwargs)
            try:
                data = response["Body"].read()
                break
            except _CONNECTION_ERRORS as exc:  # botocore does not retry a body cut off mid-stream
                if attempt == _BODY_READ_ATTEMPTS:
                    raise self._translate(exc, "GET", key, version_id) from exc
                logger.warning(
                    "lake.store body read retried",
                    extra={"key": key, "attempt": attempt, "error": f"{type(exc).__name__}: {exc}"},
                )
                if response.get("VersionId"):  # read the same version again, not a newer one
                    kwargs["VersionId"] = response["VersionId"]
        info = ObjectInfo(
            key=key,
            version_id=response.get("VersionId") or NULL_VERSION,
            size=response["ContentLength"],
            last_modified=_utc(response["LastModified"]),
            metadata=dict(response.get("Metadata") or {}),
            is_latest=self._is_latest(key, version_id),
            etag=_etag(response.get("ETag")),
        )
        return StoredObject(info=info, data=data)

    def exists(self, key: str) -> bool:
        try:
            self.head(key)
        except ObjectNotFound:
            return False
        return True

    def get_tags(self, key: str, version_id: str | None = None) -> dict[str, str]:
        key = check_key(key)
        response = self._call(
            "GET tags",
            key,
            version_id,
            self._client.get_object_tagging,
            **self._version_kwargs(key, version_id),
        )
        return {tag["Key"]: tag["Value"] for tag in response.get("TagSet", [])}

    def _version_pages(self, operation: str, full_prefix: str) -> Iterator[dict[str, Any]]:
        paginator = self._client.get_paginator("list_object_versions")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=full_prefix)
        try:
            yield from pages
        except (bce.ClientError, bce.BotoCoreError) as exc:
            raise self._translate(exc, operation, self._relative(full_prefix), None) from exc

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """The latest version of every key starting with `prefix`, all pages, in key order (no metadata).

        Listed from the version listing so each entry carries its version id; keys whose latest version
        is a delete marker are skipped.
        """
        prefix = check_prefix(prefix)
        full_prefix = self._full(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        for page in self._version_pages("LIST", full_prefix):
            for item in page.get("Versions", []):
                if item.get("IsLatest"):
                    yield ObjectInfo(
                        key=self._relative(item["Key"]),
                        version_id=item.get("VersionId") or NULL_VERSION,
                        size=item["Size"],
                        last_modified=_utc(item["LastModified"]),
                        etag=_etag(item.get("ETag")),
                    )

    def list_versions(self, key: str) -> list[ObjectInfo]:
        """Every version of the key, newest first, with metadata (one HEAD per version)."""
        key = check_key(key)
        full = self._full(key)
        listed = [
            item
            for page in self._version_pages("LIST versions", full)
            for item in page.get("Versions", [])
            if item["Key"] == full
        ]
        versions = []
        for item in listed:
            version_id = item.get("VersionId") or NULL_VERSION
            response = self._call(
                "HEAD",
                key,
                version_id,
                self._client.head_object,
                Bucket=self.bucket,
                Key=full,
                VersionId=version_id,
            )
            versions.append(
                ObjectInfo(
                    key=key,
                    version_id=version_id,
                    size=item["Size"],
                    last_modified=_utc(item["LastModified"]),
                    metadata=dict(response.get("Metadata") or {}),
                    is_latest=bool(item.get("IsLatest")),
                    etag=_etag(item.get("ETag")),
                )
            )
        return versions

    # ------------------------------------------------------------------ lake-level operations

    def presigned_url(self, key: str, expires_in_seconds: int) -> str:
        key = check_key(key)
        return self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._full(key)},
            ExpiresIn=check_expiry(expires_in_seconds),
        )

    def initialize(self) -> list[str]:
        """Create and configure the bucket: versioning, default SSE, public-access block, lifecycle.

        Idempotent: each step reads the current setting first and only changes what differs. Lifecycle
        rules of other owners (other rule ids) are kept.
        """
        done = [self._ensure_bucket()]
        client, bucket = self._client, self.bucket

        status = self._call("GET versioning", "", None, client.get_bucket_versioning, Bucket=bucket).get(
            "Status"
        )
        if status == "Enabled":
            done.append("versioning already enabled")
        else:
            self._call(
                "PUT versioning",
                "",
                None,
                client.put_bucket_versioning,
                Bucket=bucket,
                VersioningConfiguration={"Status": "Enabled"},
            )
            done.append("enabled versioning")

        algorithm = self._read_config(
            client.get_bucket_encryption,
            "ServerSideEncryptionConfigurationNotFoundError",
            lambda r: r["ServerSideEncryptionConfiguration"]["Rules"][0][
                "ApplyServerSideEncryptionByDefault"
            ]["SSEAlgorithm"],
        )
        if algorithm == SSE_ALGORITHM:
            done.append(f"default encryption already {SSE_ALGORITHM}")
        else:
            self._call(
                "PUT encryption",
                "",
                None,
                client.put_bucket_encryption,
                Bucket=bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": SSE_ALGORITHM}}]
                },
            )
            done.append(f"set default encryption {SSE_ALGORITHM}")

        wanted_block = {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        }
        block = self._read_config(
            client.get_public_access_block,
            "NoSuchPublicAccessBlockConfiguration",
            lambda r: r["PublicAccessBlockConfiguration"],
        )
        if block == wanted_block:
            done.append("public access already blocked")
        else:
            self._call(
                "PUT public access block",
                "",
                None,
                client.put_public_access_block,
                Bucket=bucket,
                PublicAccessBlockConfiguration=wanted_block,
            )
            done.append("blocked public access (all four settings)")

        existing = (
            self._read_config(
                client.get_bucket_lifecycle_configuration,
                "NoSuchLifecycleConfiguration",
                lambda r: r["Rules"],
            )
            or []
        )
        wanted = lifecycle_rules(self.prefix)
        by_id = {rule.get("ID"): rule for rule in existing}
        if all(_rule_matches(by_id.get(rule["ID"]), rule) for rule in wanted):
            done.append("lifecycle rules already set")
        else:
            ours = {rule["ID"] for rule in wanted}
            others = [rule for rule in existing if rule.get("ID") not in ours]
            self._call(
                "PUT lifecycle",
                "",
                None,
                client.put_bucket_lifecycle_configuration,
                Bucket=bucket,
                LifecycleConfiguration={"Rules": others + wanted},
            )
            done.append(
                "set lifecycle rules: raw/ and processed/ to GLACIER at 90 days and DEEP_ARCHIVE at 365, "
                "cache/ expires after 1 day, reports/ after 30"
            )
        return done

    def _ensure_bucket(self) -> str:
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return f"bucket {self.bucket} exists"
        except bce.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise self._translate(exc, "HEAD bucket", "", None) from exc
        except bce.BotoCoreError as exc:
            raise self._translate(exc, "HEAD bucket", "", None) from exc
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region_name and self.region_name != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region_name}
        try:
            self._client.create_bucket(**kwargs)
        except bce.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "BucketAlreadyOwnedByYou":  # a concurrent init
                return f"bucket {self.bucket} exists"
            raise self._translate(exc, "CREATE bucket", "", None) from exc
        except bce.BotoCoreError as exc:
            raise self._translate(exc, "CREATE bucket", "", None) from exc
        return f"created bucket {self.bucket} in {self.region_name}"

    def _read_config(self, method: Callable[..., Any], missing_code: str, pick: Callable[[Any], Any]) -> Any:
        try:
            return pick(method(Bucket=self.bucket))
        except bce.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == missing_code:
                return None
            raise self._translate(exc, "GET bucket configuration", "", None) from exc
        except bce.BotoCoreError as exc:
            raise self._translate(exc, "GET bucket configuration", "", None) from exc

    def arrow_filesystem(self) -> tuple[Any, str]:
        """(pyarrow S3FileSystem on the same endpoint, region and credentials, 'bucket/prefix')."""
        import pyarrow.fs

        kwargs: dict[str, Any] = {
            "region": self.region_name,
            "connect_timeout": self.connect_timeout,
            "request_timeout": self.read_timeout,
            "retry_strategy": pyarrow.fs.AwsStandardS3RetryStrategy(max_attempts=self.max_attempts),
        }
        if self._endpoint_override:
            endpoint = urlsplit(self._endpoint_override)
            kwargs["endpoint_override"] = endpoint.netloc + endpoint.path.rstrip("/")
            kwargs["scheme"] = endpoint.scheme or "https"
        credentials = self._session.get_credentials()
        if credentials is not None:
            frozen = credentials.get_frozen_credentials()
            kwargs.update(access_key=frozen.access_key, secret_key=frozen.secret_key)
            if frozen.token:
                kwargs["session_token"] = frozen.token
        base = f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket
        return pyarrow.fs.S3FileSystem(**kwargs), base


def _rule_matches(existing: dict[str, Any] | None, wanted: dict[str, Any]) -> bool:
    return existing is not None and all(existing.get(name) == value for name, value in wanted.items())
