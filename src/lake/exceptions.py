"""Narrow exceptions of the lake: a caller catches exactly what it can handle.

Every message says what was expected and what was seen, naming the offending value.
"""

from schemas.values import (  # the value errors live with the value types, at the bottom layer
    InvalidArgumentValue,
    InvalidDataset,
    InvalidDate,
    InvalidTicker,
)
from schemas.values import TickerlakeError as LakeError

__all__ = [
    "InvalidArgumentValue",
    "InvalidDataset",
    "InvalidDate",
    "InvalidTicker",
    "LakeError",
    "ObjectNotFound",
    "PreconditionFailed",
    "StoreUnavailable",
    "WriteConflict",
]


class ObjectNotFound(LakeError, KeyError):
    """The key (or the version of it) does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "object not found"


class StoreUnavailable(LakeError):
    """The object store could not be reached after the retries."""


class PreconditionFailed(LakeError):
    """A conditional write found the key changed since it was read (S3's 412): another writer went first."""


class WriteConflict(LakeError):
    """A read-modify-write of one object kept losing to other writers for all of its bounded attempts."""
