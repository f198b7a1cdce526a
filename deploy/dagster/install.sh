#!/usr/bin/env bash
# Installs the code location (the project with its [pipeline] extra) into a virtualenv, every package at
# the version requirements.lock pins, and proves it: a package the lock does not pin, or pins at another
# version, fails the install. Used by the Dockerfile and by tests/test_dagster_aws_deploy.py.
#
#   deploy/dagster/install.sh VENV_PYTHON PROJECT_DIR [EXTRA]     (EXTRA: pipeline)
#
# Why --constraint and not `uv pip sync requirements.lock`: the lock also pins the [dev] tools (pytest,
# moto, ruff, ta-lib); a sync would ship them in the production image. Constraints install only what the
# extra needs, at the lock's versions. UV_OFFLINE=1 installs from uv's cache without any index.
set -euo pipefail

if [ "$#" -lt 2 ] || [ "$#" -gt 3 ]; then
  echo "usage: $0 VENV_PYTHON PROJECT_DIR [EXTRA]" >&2
  exit 2
fi
python="$1"
project="$(cd "$2" && pwd)"
extra="${3:-pipeline}"
lock="$project/requirements.lock"
uv="${UV:-uv}"

[ -x "$python" ] || { echo "error: VENV_PYTHON $python is not an executable Python" >&2; exit 2; }
[ -f "$lock" ] || { echo "error: $lock does not exist" >&2; exit 2; }

"$uv" pip install --python "$python" --no-progress --constraint "$lock" "$project[$extra]"

# Every installed distribution must be the lock's pin (the project itself aside).
check_pins=$(cat <<'PY'
import re
import sys

def pins(lines):
    found = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==([^\s;]+)", line)
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found

locked = pins(open(sys.argv[1]))
installed = pins(sys.stdin)
installed.pop("tickerlake", None)
wrong = sorted(f"{name}=={version} (lock: {locked.get(name, 'not pinned')})"
               for name, version in installed.items() if locked.get(name) != version)
if wrong:
    sys.exit("error: installed packages differ from requirements.lock: " + ", ".join(wrong))
print(f"{len(installed)} packages installed, each at its requirements.lock version")
PY
)
"$uv" pip freeze --python "$python" --exclude-editable | "$python" -c "$check_pins" "$lock"
