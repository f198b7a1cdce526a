"""Arrow schemas and Glue column types derived from the pandera models (no hand-copied column lists).

Column order: ``ticker``, ``date``, the dataset's value columns in model order, then the lineage columns.
Glue types follow Athena's names for the Arrow types; every stored column is a table column (``ticker`` a
string, ``date`` a DATE) and the one partition key is the month folder (``glue_partition_keys``).
"""

from __future__ import annotations

import functools
import hashlib
import inspect

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
from pandera.engines import pandas_engine

from schemas.models import MODELS, LakeRow

KEY_COLUMNS: tuple[str, ...] = ("ticker", "date")
LINEAGE_COLUMNS: tuple[str, ...] = tuple(
    name for name in LakeRow.to_schema().columns if name not in KEY_COLUMNS
)


class UnknownDataset(ValueError):
    """A dataset name that has no model."""


def model(dataset: str) -> type[LakeRow]:
    try:
        return MODELS[dataset]
    except (KeyError, TypeError):
        raise UnknownDataset(
            f"dataset {dataset!r} is not known: expected one of {', '.join(MODELS)}"
        ) from None


def _columns(dataset: str) -> dict[str, pa.Column]:
    return dict(model(dataset).to_schema().columns)


def column_names(dataset: str) -> list[str]:
    """Every column of a dataset's rows, in storage order."""
    names = list(_columns(dataset))
    data = [n for n in names if n not in KEY_COLUMNS and n not in LINEAGE_COLUMNS]
    return [*KEY_COLUMNS, *data, *LINEAGE_COLUMNS]


def data_columns(dataset: str) -> list[str]:
    """The dataset's value columns (neither keys nor lineage), in model order."""
    return [n for n in column_names(dataset) if n not in KEY_COLUMNS and n not in LINEAGE_COLUMNS]


def arrow_type(dtype: object) -> pyarrow.DataType:
    """The Arrow type of a pandera data type."""
    if isinstance(dtype, pandas_engine.Date):
        return pyarrow.date32()
    native = getattr(dtype, "type", None)
    if isinstance(native, pd.DatetimeTZDtype):
        return pyarrow.timestamp(native.unit, tz=str(native.tz))
    if isinstance(native, pd.StringDtype) or str(dtype) == "str":
        return pyarrow.string()
    if isinstance(native, np.dtype) and native.kind in "biuf":
        return pyarrow.from_numpy_dtype(native)
    raise TypeError(f"no Arrow type for pandera dtype {dtype!r}")


_GLUE_TYPES = {
    pyarrow.float64(): "double",
    pyarrow.float32(): "float",
    pyarrow.int64(): "bigint",
    pyarrow.int32(): "int",
    pyarrow.int16(): "smallint",
    pyarrow.int8(): "tinyint",
    pyarrow.bool_(): "boolean",
    pyarrow.string(): "string",
    pyarrow.date32(): "date",
}


def glue_type(arrow: pyarrow.DataType) -> str:
    """The Glue/Athena type name of an Arrow type."""
    if pyarrow.types.is_timestamp(arrow):
        return "timestamp"
    try:
        return _GLUE_TYPES[arrow]
    except KeyError:
        raise TypeError(f"no Glue type for Arrow type {arrow}") from None


def arrow_schema(dataset: str) -> pyarrow.Schema:
    """The full row schema (keys, values, lineage) of a dataset, nullability from the model."""
    columns = _columns(dataset)
    return pyarrow.schema(
        [
            pyarrow.field(name, arrow_type(columns[name].dtype), nullable=bool(columns[name].nullable))
            for name in column_names(dataset)
        ],
        metadata={"tickerlake.dataset": dataset},
    )


def glue_columns(dataset: str) -> list[dict[str, str]]:
    """Glue table columns: every stored column of the month objects, in storage order."""
    return [{"Name": field.name, "Type": glue_type(field.type)} for field in arrow_schema(dataset)]


def glue_partition_keys() -> list[dict[str, str]]:
    """The partition key of every table: ``month`` (``YYYY-MM``, the folder of a month object)."""
    return [{"Name": "month", "Type": "string"}]


def validate(dataset: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Validate (lazily: every failure reported) and coerce a frame of full rows; returns the coerced
    frame with its columns in storage order. Raises ``pandera.errors.SchemaErrors``."""
    validated = model(dataset).validate(frame, lazy=True)
    return validated[column_names(dataset)]


@functools.cache
def fingerprint(dataset: str) -> str:
    """What a validation of the dataset's rows was made against: a digest of the models' source (every
    column, check and coercion) and pandera's version. A month version written from rows validated against
    the same fingerprint need not be validated again; any change to the models changes it."""
    import pandera

    from schemas import models

    try:
        source = inspect.getsource(models)
    except (OSError, TypeError):  # no source shipped (a zip without .py): the schema's own description
        source = repr(model(dataset).to_schema())
    digest = hashlib.sha256(f"{dataset}\n{pandera.__version__}\n{source}".encode())
    return digest.hexdigest()[:16]
