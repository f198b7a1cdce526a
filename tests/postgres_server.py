"""A real PostgreSQL server on a free 127.0.0.1 port, started and stopped by the tests.

Debian's binaries (`initdb`, `pg_ctl`: on PATH, or in /usr/lib/postgresql/<major>/bin where the `postgresql`
package puts them). Postgres refuses to run as root, so when the tests run as root the cluster belongs to
the `postgres` user the package creates (or `nobody` when there is none) and every server command runs
through `runuser`. The cluster lives in its own folder under the system temp dir (a pytest tmp_path is
0700 root, which that user could not enter), listens on loopback only with its unix socket in the same
folder, asks for a password (scram-sha-256, as a production server would) and trades durability for speed
(`fsync=off`: test data). `stop()` is `pg_ctl stop -m fast`, then the folder goes.

Without the binaries, `find_binaries()` returns None: the caller decides whether that skips or fails.
"""

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.moto_server import free_port

#: Set (to anything but empty) where Postgres must be there: CI. Missing binaries then fail the tests.
REQUIRE_ENV = "TICKERLAKE_REQUIRE_POSTGRES"
SUPERUSER = "tickerlake"


def find_binaries() -> Path | None:
    """The folder holding `initdb`, `pg_ctl` and `postgres`: PATH first, then the newest Debian major."""
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    candidates += [Path(p) for p in versions if Path(p).parent.name.isdigit()]
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def _server_user() -> str | None:
    """The unprivileged user that owns the cluster when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists to run Postgres")


@dataclass
class PostgresServer:
    bin_dir: Path
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_hex(12))
    root: Path | None = None
    user: str | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def data_dir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    def _run(self, *args: str, timeout: float = 120) -> str:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(
            command,
            cwd=self.root,  # the server user may not enter the caller's folder; Postgres resolves its cwd
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed with code {done.returncode}: {done.stderr.strip()[-2000:]}")
        return done.stdout

    def start(self) -> "PostgresServer":
        self.user = _server_user()
        self.root = Path(tempfile.mkdtemp(prefix="tickerlake-pg-"))
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n")
        if self.user:
            entry = pwd.getpwnam(self.user)
            for path in (self.root, password_file):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        try:
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                f"--pwfile={password_file}",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
            password_file.unlink()
            options = " ".join(
                [
                    "-c listen_addresses=127.0.0.1",
                    f"-p {self.port}",
                    f"-k {self.root}",
                    "-c max_connections=200",
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                ]
            )
            self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.root / "server.log"), "-o", options,
                      "-w", "-t", "60", "start")  # fmt: skip
        except BaseException:
            self.stop()
            raise
        return self

    def log_tail(self, chars: int = 3000) -> str:
        log = self.root / "server.log" if self.root else None
        return log.read_text(errors="replace")[-chars:] if log and log.exists() else ""

    def stop(self) -> None:
        if self.root is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    # -- databases -----------------------------------------------------------------------------------------

    def connect(self, database: str = "postgres"):
        """A psycopg2 connection (autocommit) as the superuser."""
        import psycopg2

        connection = psycopg2.connect(
            host=self.host,
            port=self.port,
            user=SUPERUSER,
            password=self.password,
            dbname=database,
            connect_timeout=10,
        )
        connection.autocommit = True
        return connection

    def create_database(self, name: str) -> str:
        from psycopg2 import sql

        connection = self.connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        finally:
            connection.close()
        return name

    def drop_database(self, name: str) -> None:
        from psycopg2 import sql

        connection = self.connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        finally:
            connection.close()

    def query(self, database: str, statement: str, *params: object) -> list[tuple]:
        connection = self.connect(database)
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement, params)
                return cursor.fetchall()
        finally:
            connection.close()

    def env(self, database: str) -> dict[str, str]:
        """The DAGSTER_PG_* variables that `dagster_yaml()` reads, for `database`."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": SUPERUSER,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": database,
        }


#: The operator's dagster.yaml of docs/dagster.md: every storage in Postgres, the connection from DAGSTER_PG_*.
DAGSTER_YAML = """\
storage:
  postgres:
    postgres_db:
      hostname: {env: DAGSTER_PG_HOST}
      port: {env: DAGSTER_PG_PORT}
      username: {env: DAGSTER_PG_USERNAME}
      password: {env: DAGSTER_PG_PASSWORD}
      db_name: {env: DAGSTER_PG_DB}
      scheme: postgresql+psycopg2
telemetry:
  enabled: false
"""
