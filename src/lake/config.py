"""Typed settings filled from environment variables (names in shared/INTERFACE.md)."""

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _number(name: str, default, kind, expected: str):
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be {expected}, got {raw!r}") from None


def env_float(name: str, default: float) -> float:
    """A number from the environment; unset or empty gives `default`; a bad value is refused naming the variable."""
    return _number(name, default, float, "a number")


def env_int(name: str, default: int) -> int:
    """A whole number from the environment; unset or empty gives `default`."""
    return _number(name, default, int, "a whole number")


@dataclass(frozen=True)
class Settings:
    """One configuration object; `Settings.from_env()` reads the process environment."""

    lake_uri: str = "./lake"
    glue_database: str = "tickerlake"
    deployment: str = "local"
    cache_backend: str = "hybrid"
    cache_ttl_hours: float = 24.0
    cache_sqlite_path: Path = field(
        default_factory=lambda: Path(tempfile.gettempdir()) / "tickerlake" / "cache.db"
    )
    pdf_bucket_name: str | None = None
    pdf_url_expiration_hours: float = 24.0
    line_channel_secret: str | None = None
    line_channel_access_token: str | None = None
    line_api_base_url: str | None = None
    openai_api_key: str | None = None

    @classmethod
    def from_env(cls) -> "Settings":
        backend = (_env("CACHE_BACKEND", "hybrid") or "hybrid").lower()
        if backend not in ("hybrid", "s3", "sqlite"):
            raise ValueError(f"CACHE_BACKEND must be one of hybrid, s3, sqlite; got {backend!r}")
        lake_uri = _env("TICKERLAKE_LAKE_URI", "./lake") or "./lake"
        deployment = (
            _env("TICKERLAKE_DEPLOYMENT") or ("aws" if lake_uri.startswith("s3://") else "local")
        ).lower()
        if deployment not in ("local", "aws"):
            raise ValueError(f"TICKERLAKE_DEPLOYMENT must be 'local' or 'aws'; got {deployment!r}")
        sqlite_path = _env("CACHE_SQLITE_PATH")
        return cls(
            lake_uri=lake_uri,
            glue_database=_env("TICKERLAKE_GLUE_DATABASE", "tickerlake") or "tickerlake",
            deployment=deployment,
            cache_backend=backend,
            cache_ttl_hours=env_float("CACHE_TTL_HOURS", 24.0),
            cache_sqlite_path=Path(sqlite_path)
            if sqlite_path
            else Path(tempfile.gettempdir()) / "tickerlake" / "cache.db",
            pdf_bucket_name=_env("PDF_BUCKET_NAME"),
            pdf_url_expiration_hours=env_float("PDF_URL_EXPIRATION_HOURS", 24.0),
            line_channel_secret=_env("LINE_CHANNEL_SECRET"),
            line_channel_access_token=_env("LINE_CHANNEL_ACCESS_TOKEN"),
            line_api_base_url=_env("LINE_API_BASE_URL"),
            openai_api_key=_env("OPENAI_API_KEY"),
        )
