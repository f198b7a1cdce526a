"""Resources, chosen by deployment from one variable: TICKERLAKE_DEPLOYMENT = local | aws.

- local: the lake is a folder (TICKERLAKE_LAKE_URI, default ./lake), the source is the offline sample;
- aws:   the lake is s3://bucket/prefix (TICKERLAKE_LAKE_URI must say which), the source is Yahoo.

Tests and `tickerlake run` pass their own values to `build_resources`; nothing is monkeypatched.
"""

import functools

import dagster as dg

from lake import Lake
from lake.config import Settings

DEFAULT_SOURCE = {"local": "sample", "aws": "yahoo"}


@functools.lru_cache(maxsize=8)
def _open_lake(uri: str) -> Lake:
    return Lake.open(uri)


class LakeResource(dg.ConfigurableResource):
    """The lake every asset reads and writes through (versioned, lineage-tagged objects)."""

    uri: str

    def lake(self) -> Lake:
        return _open_lake(self.uri)


class SourceResource(dg.ConfigurableResource):
    """Where raw data comes from: `sample` (offline), `yahoo` (yfinance) or `dir:PATH` (recorded envelopes)."""

    name: str = "sample"

    def source(self):
        from pipelines.sources import get_source

        return get_source(self.name)


def build_resources(
    deployment: str | None = None, lake_uri: str | None = None, source: str | None = None
) -> dict[str, dg.ConfigurableResource]:
    settings = Settings.from_env()
    deployment = (deployment or settings.deployment).lower()
    if deployment not in DEFAULT_SOURCE:
        raise ValueError(f"deployment {deployment!r} is not valid: expected 'local' or 'aws'")
    uri = lake_uri or settings.lake_uri
    if deployment == "aws" and not uri.startswith("s3://"):
        raise ValueError(
            f"TICKERLAKE_LAKE_URI {uri!r} is not valid for the aws deployment: expected s3://bucket/prefix"
        )
    return {
        "lake": LakeResource(uri=uri),
        "source": SourceResource(name=source or DEFAULT_SOURCE[deployment]),
    }
