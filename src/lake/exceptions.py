"""Narrow exceptions of the lake: a caller catches exactly what it can handle.

Every message says what was expected and what was seen, naming the offending value.
"""


class LakeError(Exception):
    """Base class of every error raised by the lake."""


class InvalidArgumentValue(LakeError, ValueError):
    """An argument (ticker, date, dataset, URI, ...) was refused before it reached a key or a query."""


class InvalidTicker(InvalidArgumentValue):
    """A ticker that does not match the strict ticker pattern."""


class InvalidDate(InvalidArgumentValue):
    """A date that is not a real calendar date written as YYYY-MM-DD."""


class InvalidDataset(InvalidArgumentValue):
    """A dataset name that is not one of the lake's datasets."""


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
