"""Errors on the command line: one line on stderr, no traceback, and an exit code that says whose it is.

- 2: a user error (a bad ticker, date, path, option): the line names the offending input;
- 3: a service is unavailable (S3 or the lake unreachable, credentials missing): not a typo, try again later;
- 1: a run failed (the command's own summary says which step).

An unexpected exception is a bug: `tickerlake_cli.main.main` prints it in one line (exit 1), or its full
traceback with `--debug` / TICKERLAKE_DEBUG. docs/cli.md states these conventions for users.
"""

import contextlib
import sys
from collections.abc import Iterator

import typer

from lake.exceptions import LakeError, StoreUnavailable

USER_ERRORS: tuple[type[BaseException], ...] = (LakeError, ValueError, FileNotFoundError, KeyError)
EXIT_USER_ERROR = 2
EXIT_UNAVAILABLE = 3
EXIT_RUN_FAILED = 1


def fail(message: str, code: int = EXIT_USER_ERROR) -> "typer.Exit":
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Wrap a command body: a known user error becomes `error: ...` on stderr and exit 2, an unavailable
    service exit 3."""
    try:
        yield
    except typer.Exit:
        raise
    except StoreUnavailable as exc:
        raise fail(str(exc), code=EXIT_UNAVAILABLE) from None
    except USER_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise fail(str(message)) from None
