"""Shared helpers of the cache-operations tests (test_cache_ops_*.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from lake.api import Lake
from lake.store import LocalStore
from tests.report_factory import build_sample_lake


def sample_lake(root: Path, **kwargs) -> dict:
    """`build_sample_lake` into a local lake at `root`.

    The sample source's fixed clock (2030, for reproducible raw keys) is in the future for the parser's
    "a fetch cannot have happened yet" check, so the parser's clock is moved past it while building.
    """
    from pipelines import parsing

    with pytest.MonkeyPatch.context() as patch:
        if hasattr(parsing, "_utc_now"):
            patch.setattr(parsing, "_utc_now", lambda: dt.datetime(2030, 1, 2, tzinfo=dt.UTC))
        return build_sample_lake(Lake(LocalStore(root)), **kwargs)
