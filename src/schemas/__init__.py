"""Dataset schemas: one pandera model per dataset, and the Arrow / Glue forms derived from it.

Examples
--------
>>> import schemas
>>> schemas.arrow_schema("prices").names[:3]
['ticker', 'date', 'open']
>>> schemas.glue_columns("prices")[0]
{'Name': 'open', 'Type': 'double'}
"""

from schemas.derive import (
    KEY_COLUMNS,
    LINEAGE_COLUMNS,
    UnknownDataset,
    arrow_schema,
    arrow_type,
    column_names,
    data_columns,
    glue_columns,
    glue_partition_keys,
    glue_type,
    model,
    validate,
)
from schemas.models import MODELS, Features, Indicators, LakeRow, Percentiles, Prices

DATASETS: tuple[str, ...] = tuple(MODELS)

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
    "glue_columns",
    "glue_partition_keys",
    "glue_type",
    "model",
    "validate",
]
