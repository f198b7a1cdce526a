"""The bot's secrets from AWS at cold start: ``<NAME>_ARN`` → ``<NAME>``.

On Lambda the LINE channel secret, the LINE access token and the OpenAI key are never in the function's
configuration (nor in Terraform state): the function gets ``LINE_CHANNEL_SECRET_ARN``,
``LINE_CHANNEL_ACCESS_TOKEN_ARN`` and ``OPENAI_API_KEY_ARN``, and ``resolve_secrets()`` — called once by
``lambda_handler`` before the app reads its settings — fetches each value and puts it in the plain
variable the settings already read (``LINE_CHANNEL_SECRET`` …). One call per secret, for the life of the
container; a failed call is not remembered, so the next cold path tries again (the operator may have
just set the value).

Precedence: **a non-empty plain variable wins**, and its ``_ARN`` is then not read at all (no AWS call,
so a laptop with ``LINE_CHANNEL_SECRET=…`` needs no credentials). Setting both is logged as a warning:
on Lambda it means someone put a plaintext value into the function's configuration.

An ARN may name a Secrets Manager secret (``arn:aws:secretsmanager:<region>:<account>:secret:<name>-XXXXXX``;
its ``SecretString``, the whole string) or an SSM parameter (``arn:aws:ssm:<region>:<account>:parameter/<name>``,
read with decryption). The client is made for the ARN's region; the endpoint follows the standard AWS
variables (``AWS_ENDPOINT_URL`` — a moto server in the tests). Surrounding whitespace of a value is
dropped (``put-secret-value --secret-string file://token.txt`` keeps the file's newline); an empty value
is an error. Any failure raises ``SecretResolutionError`` (a ``ValueError``), one line naming the
variable and the ARN.

Examples
--------
>>> from report_app.secrets import resolve_secrets
>>> resolve_secrets()  # doctest: +SKIP
{'LINE_CHANNEL_SECRET': 'secretsmanager', 'LINE_CHANNEL_ACCESS_TOKEN': 'secretsmanager', 'OPENAI_API_KEY': 'unset'}
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

__all__ = [
    "ARN_SUFFIX",
    "SECRET_VARIABLES",
    "SecretResolutionError",
    "reset_secrets",
    "resolve_secrets",
]

log = logging.getLogger(f"tickerlake.{__name__}")

#: The variables whose values may come from an ARN in ``<NAME>_ARN``.
SECRET_VARIABLES: tuple[str, ...] = ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN", "OPENAI_API_KEY")
ARN_SUFFIX = "_ARN"

_ARN_RE = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):(?P<service>secretsmanager|ssm):(?P<region>[a-z]{2}(-[a-z]+)+-\d):"
    r"(?P<account>\d{12}):(?P<resource>(secret:.+)|(parameter/.+))"
)

_lock = threading.Lock()
#: name → ARN of the values this process fetched (the container's cache).
_resolved: dict[str, str] = {}


class SecretResolutionError(ValueError):
    """A ``<NAME>_ARN`` could not be turned into a value; the message names the variable and the ARN."""


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _parse_arn(variable: str, arn: str) -> tuple[str, str]:
    """(service, region) of a Secrets Manager secret or SSM parameter ARN."""
    match = _ARN_RE.fullmatch(arn)
    if match is None or (match["service"] == "secretsmanager") != match["resource"].startswith("secret:"):
        raise SecretResolutionError(
            f"{variable}={arn!r} is not a Secrets Manager secret ARN "
            "(arn:aws:secretsmanager:<region>:<account>:secret:<name>) "
            "nor an SSM parameter ARN (arn:aws:ssm:<region>:<account>:parameter/<name>)"
        )
    return match["service"], match["region"]


def _default_client(service: str, region: str) -> Any:
    import boto3
    import botocore.config

    # A cold start waits for these calls: short timeouts, the standard retry mode's backoff.
    config = botocore.config.Config(
        connect_timeout=3, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"}
    )
    return boto3.session.Session(region_name=region).client(service, config=config)


def _fetch(service: str, client: Any, arn: str) -> str:
    if service == "secretsmanager":
        response = client.get_secret_value(SecretId=arn)
        if response.get("SecretString") is None:
            raise ValueError("the secret holds binary data only; store the value as a SecretString")
        return response["SecretString"]
    return client.get_parameter(Name=arn, WithDecryption=True)["Parameter"]["Value"]


def resolve_secrets(
    names: Iterable[str] = SECRET_VARIABLES,
    *,
    environ: MutableMapping[str, str] | None = None,
    client_factory: Callable[[str, str], Any] | None = None,
) -> dict[str, str]:
    """Fill each plain variable of ``names`` from its ``<NAME>_ARN``, unless it is already set.

    Parameters
    ----------
    names:
        The plain variable names (default: the LINE secret, the LINE token, the OpenAI key).
    environ:
        Where to read and write the variables (default: ``os.environ``, which the settings read).
    client_factory:
        ``(service, region) -> boto3 client`` (default: boto3 with short timeouts and standard retries).

    Returns
    -------
    dict
        name → where its value is from: ``environment`` (plain variable set), ``secretsmanager``, ``ssm``,
        ``cached`` (fetched earlier by this process) or ``unset`` (neither variable set).

    Raises
    ------
    SecretResolutionError
        An ARN is malformed, the call failed (not found, access denied, no value yet, unreachable), or the
        value is empty. Variables resolved before the failure keep their values.
    """
    env = os.environ if environ is None else environ
    factory = client_factory or _default_client
    sources: dict[str, str] = {}
    clients: dict[tuple[str, str], Any] = {}
    with _lock:
        for name in names:
            arn_variable = name + ARN_SUFFIX
            arn = (env.get(arn_variable) or "").strip()
            if env.get(name):
                if arn and _resolved.get(name) == arn:
                    sources[name] = "cached"
                    continue
                if arn:
                    log.warning(
                        "secrets: the plain variable is set, so its ARN is not read",
                        extra={"variable": name, "arn_variable": arn_variable, "arn": arn},
                    )
                sources[name] = "environment"
                continue
            if not arn:
                sources[name] = "unset"
                continue
            service, region = _parse_arn(arn_variable, arn)
            try:
                if (service, region) not in clients:
                    clients[service, region] = factory(service, region)
                value = _fetch(service, clients[service, region], arn).strip()
            except Exception as exc:  # noqa: BLE001 - botocore's errors are many; the caller needs one
                raise SecretResolutionError(
                    f"cannot resolve {name} from {arn_variable}={arn}: {type(exc).__name__}: {_one_line(exc)}"
                ) from exc
            if not value:
                raise SecretResolutionError(
                    f"cannot resolve {name} from {arn_variable}={arn}: the value is empty "
                    "(set it with `aws secretsmanager put-secret-value`)"
                )
            env[name] = value
            _resolved[name] = arn
            sources[name] = service
            log.info("secrets: %s resolved from %s", name, arn)
    return sources


def reset_secrets() -> None:
    """Forget which values this process fetched (tests; the values already set stay set)."""
    with _lock:
        _resolved.clear()
