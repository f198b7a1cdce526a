"""The report bot's settings: cache, PDF, LINE, OpenAI, pre-warm, metrics, and the Lambda's dependency zip.

Two classes, so that each reader validates only what it uses:

- `ReportSettings` (the lake's settings plus the bot's): read by `ReportService.from_settings`,
  `LineWebhookApp.from_settings`, the pre-warm, the narrative and the PDF renderer;
- `DependencySettings`: read by `dependency_loader` at a Lambda cold start, before anything else
  (a bad cache setting must not stop the libraries from loading).

The ``*_ARN`` variables name a Secrets Manager secret (ARN) or an SSM parameter that the Lambda resolves at
cold start into the plain variable next to it (``LINE_CHANNEL_SECRET_ARN`` → ``LINE_CHANNEL_SECRET``).
This module imports nothing heavy: the Lambda reads it before its libraries are loaded.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from lake.config import EnvSettings, LakeSettings, env

__all__ = ["DependencySettings", "ReportSettings"]


def _default_sqlite_path() -> Path:
    return Path(tempfile.gettempdir()) / "tickerlake" / "cache.db"


class ReportSettings(LakeSettings):
    """Everything the report bot reads from the environment (the lake's settings included)."""

    cache_backend: Literal["hybrid", "s3", "sqlite"] = env(
        "CACHE_BACKEND", "hybrid", description="hybrid, s3 or sqlite"
    )
    cache_ttl_hours: float = env("CACHE_TTL_HOURS", 24.0, gt=0, description="report cache time to live")
    cache_sqlite_path: Path = Field(
        default_factory=_default_sqlite_path,
        validation_alias="CACHE_SQLITE_PATH",
        description="the L1 cache file",
    )
    cache_ttl_adaptive: bool = env("CACHE_TTL_ADAPTIVE", False, description="adaptive TTL by demand")
    cache_ttl_min_hours: float = env("CACHE_TTL_MIN_HOURS", 6.0, gt=0)
    cache_ttl_max_hours: float = env("CACHE_TTL_MAX_HOURS", 72.0, gt=0)
    cache_ttl_window_days: int = env("CACHE_TTL_WINDOW_DAYS", 7, ge=1)
    cache_events: bool = env("CACHE_EVENTS", True, description="record the cache event log")
    cache_events_flush_every: int = env("CACHE_EVENTS_FLUSH_EVERY", 200, ge=1)
    cache_events_flush_seconds: float = env("CACHE_EVENTS_FLUSH_SECONDS", 60.0, ge=0)
    metrics: Literal["auto", "emf", "off"] = env(
        "TICKERLAKE_METRICS", "auto", description="CloudWatch EMF lines: auto = on AWS Lambda only"
    )
    pdf_bucket_name: str | None = env("PDF_BUCKET_NAME", None)
    pdf_url_expiration_hours: float = env("PDF_URL_EXPIRATION_HOURS", 24.0, gt=0)
    pdf_shaping: bool = env("TICKERLAKE_PDF_SHAPING", True, description="Thai shaping with uharfbuzz")
    line_channel_secret: str | None = env("LINE_CHANNEL_SECRET", None)
    line_channel_access_token: str | None = env("LINE_CHANNEL_ACCESS_TOKEN", None)
    line_api_base_url: str | None = env("LINE_API_BASE_URL", None)
    line_channel_secret_arn: str | None = env("LINE_CHANNEL_SECRET_ARN", None)
    line_channel_access_token_arn: str | None = env("LINE_CHANNEL_ACCESS_TOKEN_ARN", None)
    openai_api_key: str | None = env("OPENAI_API_KEY", None)
    openai_api_key_arn: str | None = env("OPENAI_API_KEY_ARN", None)
    openai_model: str | None = env("OPENAI_MODEL", None, description="default: the narrative's model")
    prewarm_tickers: str = env("PREWARM_TICKERS", "", description="comma-separated DR or Yahoo symbols")

    @field_validator("cache_backend", "metrics", mode="before")
    @classmethod
    def _lower(cls, value):
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def prewarm_ticker_names(self) -> list[str]:
        """PREWARM_TICKERS as a list of names (blanks dropped)."""
        return [name.strip() for name in self.prewarm_tickers.split(",") if name.strip()]


class DependencySettings(EnvSettings):
    """The Lambda's dependency zip in S3 (docs/lambda-dependencies.md)."""

    bucket: str | None = env("DEPENDENCIES_BUCKET", None, description="bucket holding python-libs/")
    key: str | None = env("DEPENDENCIES_KEY", None, description="an explicit zip key")
    prefix: str = env("DEPENDENCIES_PREFIX", "python-libs")
    version: str = env("DEPENDENCIES_VERSION", "", description="a version, current or previous")
    name: str = env("DEPENDENCIES_NAME", "data-science-libs")
    target_dir: str = env("DEPENDENCIES_DIR", "/tmp/python-libs")
    max_bytes: int = env("DEPENDENCIES_MAX_BYTES", 1024**3, gt=0)
    max_entries: int = env("DEPENDENCIES_MAX_ENTRIES", 100_000, gt=0)
    max_ratio: float = env("DEPENDENCIES_MAX_RATIO", 100.0, gt=0)
