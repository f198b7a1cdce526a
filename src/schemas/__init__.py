"""Dataset schemas: one pandera model per dataset, and the Arrow / Glue forms derived from it.

Examples
--------
>>> import schemas
>>> schemas.arrow_schema("prices").names[:3]
['ticker', 'date', 'open']
>>> schemas.glue_columns("prices")[0]
{'Name': 'ticker', 'Type': 'string'}
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from schemas.values import DATASETS

if TYPE_CHECKING:
    from schemas.derive import (
        KEY_COLUMNS,
        LINEAGE_COLUMNS,
        UnknownDataset,
        arrow_schema,
        arrow_type,
        column_names,
        data_columns,
        fingerprint,
        glue_columns,
        glue_partition_keys,
        glue_type,
        model,
        validate,
    )
    from schemas.models import MODELS, Features, Indicators, LakeRow, Percentiles, Prices

# Loaded on first use: `schemas.values` (what the lake's keys need) must not pull pandera and pandas in.
_LAZY = {
    **dict.fromkeys(
        (
            "KEY_COLUMNS",
            "LINEAGE_COLUMNS",
            "UnknownDataset",
            "arrow_schema",
            "arrow_type",
            "column_names",
            "data_columns",
            "fingerprint",
            "glue_columns",
            "glue_partition_keys",
            "glue_type",
            "model",
            "validate",
        ),
        "schemas.derive",
    ),
    **dict.fromkeys(
        ("MODELS", "Features", "Indicators", "LakeRow", "Percentiles", "Prices"), "schemas.models"
    ),
}

__all__ = [
    "DATASETS",
    "KEY_COLUMNS",
    "LINEAGE_COLUMNS",
    "MODELS",
    "Features",
    "Indicators",
    "LakeRow",
    "Percentiles",
    "Prices",
    "UnknownDataset",
    "arrow_schema",
    "arrow_type",
    "column_names",
    "data_columns",
    "fingerprint",
    "glue_columns",
    "glue_partition_keys",
    "glue_type",
    "model",
    "validate",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'schemas' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
