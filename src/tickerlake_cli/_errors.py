"""User errors: one line on stderr naming the offending input, exit code 2, no traceback."""

import contextlib
import sys
from collections.abc import Iterator

import typer

from lake.exceptions import LakeError

USER_ERRORS: tuple[type[BaseException], ...] = (LakeError, ValueError, FileNotFoundError, KeyError)


def fail(message: str, code: int = 2) -> "typer.Exit":
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Wrap a command body: a known user error becomes `error: ...` on stderr and exit 2."""
    try:
        yield
    except typer.Exit:
        raise
    except USER_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise fail(str(message)) from None
