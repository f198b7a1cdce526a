"""Container entry point of the Dagster image: writes $DAGSTER_HOME/dagster.yaml, then runs the command.

Every container of the ECS deployment (webserver, daemon, code server, each run task) starts here. The
instance file in the image (/opt/dagster/dagster.yaml, from deploy/dagster/dagster.yaml) is complete except
for the run tasks' network: EcsRunLauncher takes `run_task_kwargs.networkConfiguration` as a literal YAML
list, and Dagster reads no list from the environment. The entry point fills in

    DAGSTER_RUN_SUBNETS          comma-separated subnet ids   (subnet-0abc...,subnet-0def...)
    DAGSTER_RUN_SECURITY_GROUPS  comma-separated group ids    (sg-0abc...)

validates them, writes the instance file atomically, and replaces itself with the command (exec: the
command gets PID 1's signals, so ECS's SIGTERM reaches dagster directly). A bad or missing value stops the
container with one line naming the variable, before Dagster starts.

    python entrypoint.py dagster-daemon run
    python entrypoint.py --render-only          (writes the file, runs nothing)
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

TEMPLATE_ENV = "DAGSTER_INSTANCE_TEMPLATE"
DEFAULT_TEMPLATE = "/opt/dagster/dagster.yaml"
NETWORK_VARIABLES = {
    "DAGSTER_RUN_SUBNETS": ("subnets", re.compile(r"subnet-[0-9a-f]{8,17}")),
    "DAGSTER_RUN_SECURITY_GROUPS": ("securityGroups", re.compile(r"sg-[0-9a-f]{8,17}")),
}


class ConfigurationError(ValueError):
    """A missing or malformed environment variable; the message names it and its value."""


def _ids(name: str, env: Mapping[str, str], pattern: re.Pattern[str]) -> list[str]:
    raw = env.get(name)
    if raw is None or not raw.strip():
        raise ConfigurationError(f"{name} is not set: expected comma-separated ids such as {pattern.pattern}")
    ids = [part.strip() for part in raw.split(",")]
    for value in ids:
        if not pattern.fullmatch(value):
            raise ConfigurationError(f"{name} has {value!r}: expected ids matching {pattern.pattern}")
    if len(set(ids)) != len(ids):
        raise ConfigurationError(f"{name} lists an id twice: {raw!r}")
    return ids


def render_instance(template: str, env: Mapping[str, str]) -> str:
    """The instance YAML with the run tasks' subnets and security groups taken from `env`."""
    config = yaml.safe_load(template)
    try:
        vpc = config["run_launcher"]["config"]["run_task_kwargs"]["networkConfiguration"][
            "awsvpcConfiguration"
        ]
    except (KeyError, TypeError) as error:
        raise ConfigurationError(
            f"the instance template has no run_launcher.config.run_task_kwargs.networkConfiguration."
            f"awsvpcConfiguration (missing {error})"
        ) from None
    for name, (field, pattern) in NETWORK_VARIABLES.items():
        vpc[field] = _ids(name, env, pattern)
    return yaml.safe_dump(config, sort_keys=False)


def write_instance(template_path: Path, dagster_home: Path, env: Mapping[str, str]) -> Path:
    """Render the template into dagster_home/dagster.yaml (temp file + rename: never half-written)."""
    rendered = render_instance(template_path.read_text(), env)
    dagster_home.mkdir(parents=True, exist_ok=True)
    target = dagster_home / "dagster.yaml"
    fd, temp = tempfile.mkstemp(dir=dagster_home, prefix=".dagster.yaml.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(rendered)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def main(argv: Sequence[str], env: Mapping[str, str] = os.environ) -> int:
    home = env.get("DAGSTER_HOME")
    if not home:
        print("error: DAGSTER_HOME is not set", file=sys.stderr)
        return 2
    try:
        write_instance(Path(env.get(TEMPLATE_ENV, DEFAULT_TEMPLATE)), Path(home), env)
    except ConfigurationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    command = list(argv)
    if command == ["--render-only"]:
        return 0
    if not command:
        print("error: no command given (e.g. dagster-daemon run)", file=sys.stderr)
        return 2
    os.execvp(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
