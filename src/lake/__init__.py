"""tickerlake's storage layer: the lake API, the object store, the key layout, the errors.

Public names are re-exported here (loaded on first use, so `import lake.layout` stays light):

>>> from lake import Lake  # doctest: +SKIP
>>> lake = Lake.open("s3://my-lake/prod")  # doctest: +SKIP
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from lake.exceptions import (
    InvalidArgumentValue,
    InvalidDataset,
    InvalidDate,
    InvalidTicker,
    LakeError,
    ObjectNotFound,
    PreconditionFailed,
    StoreUnavailable,
    WriteConflict,
)

if TYPE_CHECKING:
    from lake.api import Lake, MonthVersion, MonthWrite, open_lake
    from lake.config import Settings
    from lake.store import LocalStore, ObjectInfo, ObjectStore, PutResult, S3Store, StoredObject, open_store

_LAZY = {
    "Lake": "lake.api",
    "MonthVersion": "lake.api",
    "MonthWrite": "lake.api",
    "open_lake": "lake.api",
    "Settings": "lake.config",
    "LocalStore": "lake.store",
    "ObjectInfo": "lake.store",
    "ObjectStore": "lake.store",
    "PutResult": "lake.store",
    "S3Store": "lake.store",
    "StoredObject": "lake.store",
    "open_store": "lake.store",
}

__all__ = [
    "InvalidArgumentValue",
    "InvalidDataset",
    "InvalidDate",
    "InvalidTicker",
    "Lake",
    "LakeError",
    "MonthVersion",
    "MonthWrite",
    "LocalStore",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "PreconditionFailed",
    "PutResult",
    "S3Store",
    "Settings",
    "StoreUnavailable",
    "StoredObject",
    "WriteConflict",
    "open_lake",
    "open_store",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lake' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
