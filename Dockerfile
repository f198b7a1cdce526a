# syntax=docker/dockerfile:1.7
# The Dagster image of the ECS deployment (docs/dagster-aws.md): one image for the webserver, the daemon,
# the code-location server and every run task; the ECS task definitions choose the command.
#
#   docker build -t tickerlake-dagster:$(git rev-parse --short HEAD) .
#
# Python 3.11 (the project's, pyproject requires-python), the project with its [pipeline] extra at the
# versions requirements.lock pins (deploy/dagster/install.sh proves every installed package is the lock's),
# a non-root user, the production instance files in $DAGSTER_HOME.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_VERSION=0.13.8

# --- build: resolve nothing, install the lock's pins into /opt/venv ------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PYTHON_DOWNLOADS=never
RUN python -m pip install "uv==${UV_VERSION}" \
 && python -m venv /opt/venv
WORKDIR /src
# The lock and the project metadata first: the dependency layer is rebuilt only when they change.
COPY requirements.lock pyproject.toml README.md ./
COPY src ./src
COPY deploy/dagster/install.sh /usr/local/bin/tickerlake-install
RUN --mount=type=cache,target=/root/.cache/uv \
    tickerlake-install /opt/venv/bin/python /src pipeline

# --- runtime ---------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="tickerlake-dagster" \
      org.opencontainers.image.description="tickerlake Dagster code location, webserver and daemon" \
      org.opencontainers.image.licenses="MIT"

# tini reaps the children Dagster starts (run workers of the code server, step subprocesses).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 dagster \
 && useradd --system --uid 10001 --gid dagster --home-dir /opt/dagster --shell /usr/sbin/nologin dagster

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    DAGSTER_INSTANCE_TEMPLATE=/opt/dagster/dagster.yaml \
    TICKERLAKE_DEPLOYMENT=aws \
    MPLCONFIGDIR=/tmp/matplotlib

COPY --from=build /opt/venv /opt/venv
COPY --chown=root:root --chmod=0644 deploy/dagster/dagster.yaml /opt/dagster/dagster.yaml
COPY --chown=root:root --chmod=0755 deploy/dagster/entrypoint.py deploy/dagster/healthcheck.py /opt/dagster/bin/
# $DAGSTER_HOME holds the instance file (the entrypoint renders dagster.yaml there at start) and the
# workspace; the only directory the dagster user may write besides /tmp.
COPY --chown=dagster:dagster deploy/dagster/dagster.yaml deploy/dagster/workspace.yaml /opt/dagster/dagster_home/

USER 10001:10001
WORKDIR /opt/dagster/dagster_home

EXPOSE 3000 4000

# ECS runs its own check per container (infra/dagster_ecs.tf); this one serves `docker run` and Compose.
# DAGSTER_SERVICE picks the check: webserver, daemon, code-server or run.
ENV DAGSTER_SERVICE=code-server
HEALTHCHECK --interval=30s --timeout=30s --start-period=120s --retries=3 \
  CMD ["python", "/opt/dagster/bin/healthcheck.py"]

ENTRYPOINT ["tini", "--", "python", "/opt/dagster/bin/entrypoint.py"]
# The code-location server; the webserver and daemon task definitions override it:
#   dagster-webserver -h 0.0.0.0 -p 3000 -w /opt/dagster/dagster_home/workspace.yaml --path-prefix ""
#   dagster-daemon run -w /opt/dagster/dagster_home/workspace.yaml
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "4000", "-m", "dagster_project.definitions", \
     "--location-name", "dagster_project.definitions"]
