"""`tickerlake deploy ...`: the report bot's Lambda packages (docs/lambda-dependencies.md).

- `package-function`: build the function package (the project's modules) and upload it to the key Terraform
  deploys (`lambda/report_app.zip`);
- `package-deps`: build the dependencies zip for the Lambda platform, upload it and move the `current.json`
  pointer;
- `promote-deps`: point `current.json` at an uploaded version;
- `rollback-deps`: swap the current and previous versions in `current.json`.
"""

import json
from pathlib import Path
from typing import Annotated

import typer

from report_app import packaging
from report_app.dependency_loader import DEFAULT_NAME, DEFAULT_PREFIX, DependencyLoadError
from tickerlake_cli._errors import fail, user_errors

deploy_app = typer.Typer(
    help="Deployment of the report bot: its Lambda function package and its dependencies zip in S3.",
    no_args_is_help=True,
)


def _require_bucket(bucket: str | None) -> str:
    if not bucket:
        raise fail("--bucket (or DEPENDENCIES_BUCKET) is required")
    return bucket


@deploy_app.command("package-deps")
def package_deps(
    bucket: Annotated[
        str | None,
        typer.Option(
            "--bucket", envvar="DEPENDENCIES_BUCKET", help="Bucket to upload to (python-libs/<version>/)."
        ),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(
            "--version", help="Version label (default: the first 12 hex digits of the zip's SHA-256)."
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for <version>/<name>.zip + manifest.")] = Path(
        "dist/lambda-deps"
    ),
    no_upload: Annotated[bool, typer.Option("--no-upload", help="Build only; do not touch S3.")] = False,
    requirements: Annotated[
        Path | None,
        typer.Option(
            "--requirements", help="File of requirements (name==version, or a name pinned by the lock)."
        ),
    ] = None,
    packages: Annotated[
        str | None,
        typer.Option(
            "--packages",
            help="Comma-separated names, pins from the lock (default: the requirements of tickerlake[bot]).",
        ),
    ] = None,
    lock: Annotated[
        Path | None,
        typer.Option(
            "--lock", help="Lock file the pins come from (default: the lock shipped in the package)."
        ),
    ] = None,
    wheelhouse: Annotated[
        Path | None,
        typer.Option("--wheelhouse", help="Offline: install only from this folder of wheels (--no-index)."),
    ] = None,
    platform: Annotated[
        list[str] | None,
        typer.Option(
            "--platform",
            help="pip platform tag (repeatable); default: every manylinux tag for --glibc/--arch.",
        ),
    ] = None,
    glibc: Annotated[
        str,
        typer.Option("--glibc", help="glibc of the Lambda runtime (python3.12, Amazon Linux 2023: 2.34)."),
    ] = packaging.DEFAULT_GLIBC,
    arch: Annotated[
        str, typer.Option("--arch", help="x86_64 or aarch64 (arm64 Lambda).")
    ] = packaging.DEFAULT_ARCH,
    python_version: Annotated[
        str, typer.Option("--python-version", help="Python of the Lambda runtime (python3.12: 3.12).")
    ] = packaging.DEFAULT_PYTHON_VERSION,
    prefix: Annotated[str, typer.Option("--prefix", help="Key prefix in the bucket.")] = DEFAULT_PREFIX,
    name: Annotated[str, typer.Option("--name", help="Zip name (without .zip).")] = DEFAULT_NAME,
    no_pointer: Annotated[
        bool, typer.Option("--no-pointer", help="Upload, but leave current.json alone.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an uploaded version with different content.")
    ] = False,
) -> None:
    """Build the dependencies zip for the Lambda platform from the lock, then upload it and point current.json at it."""
    with user_errors():
        if not no_upload:
            _require_bucket(bucket)
        if requirements is not None and packages:
            raise fail("give either --requirements or --packages, not both")
        try:
            build = packaging.build_package(
                out_dir=out,
                packages=[p.strip() for p in packages.split(",") if p.strip()] if packages else None,
                requirements_file=requirements,
                lock=lock if lock is not None else packaging.DEFAULT_LOCK,
                version=version,
                name=name,
                prefix=prefix,
                python_version=python_version,
                platforms=platform or packaging.manylinux_platforms(glibc, arch),
                wheelhouse=wheelhouse,
            )
            manifest = build.manifest
            typer.echo(
                f"built {build.zip_path} version={manifest['version']} sha256={manifest['sha256']} "
                f"bytes={manifest['size']} files={manifest['file_count']} "
                f"uncompressed={manifest['uncompressed_size']}"
            )
            if no_upload:
                return
            result = packaging.upload_package(
                build, bucket, prefix=prefix, update_pointer=not no_pointer, force=force
            )
        except (packaging.PackagingError, DependencyLoadError) as exc:
            raise fail(str(exc)) from None
        typer.echo(f"uploaded s3://{bucket}/{result['key']} (+ .manifest.json)")
        if not no_pointer:
            previous = (result.get("previous") or {}).get("version")
            typer.echo(f"current version={result['version']} previous={previous or '-'}")


@deploy_app.command("package-function")
def package_function(
    bucket: Annotated[
        str | None,
        typer.Option("--bucket", envvar="DEPENDENCIES_BUCKET", help="The deploy bucket (Terraform's)."),
    ] = None,
    key: Annotated[
        str, typer.Option("--key", help="Key of the zip (Terraform's lambda_package_key).")
    ] = packaging.DEFAULT_FUNCTION_KEY,
    out: Annotated[Path, typer.Option("--out", help="Folder for report_app.zip + manifest.")] = Path(
        "dist/lambda"
    ),
    no_upload: Annotated[bool, typer.Option("--no-upload", help="Build only; do not touch S3.")] = False,
) -> None:
    """Build the Lambda function package (report_app, lake, schemas, pipelines) and upload it."""
    with user_errors():
        if not no_upload:
            _require_bucket(bucket)
        try:
            build = packaging.build_function_package(out_dir=out)
            manifest = build.manifest
            typer.echo(
                f"built {build.zip_path} sha256={build.sha256} source_code_hash={build.source_code_hash} "
                f"bytes={manifest['size']} files={manifest['file_count']}"
            )
            if no_upload:
                return
            result = packaging.upload_function_package(build, bucket, key=key)
        except packaging.PackagingError as exc:
            raise fail(str(exc)) from None
        state = "uploaded" if result["uploaded"] else "unchanged"
        typer.echo(f"{state} s3://{bucket}/{result['key']} version_id={result['version_id'] or '-'}")


@deploy_app.command("promote-deps")
def promote_deps(
    version: Annotated[str, typer.Option("--version", help="An uploaded version to make current.")],
    bucket: Annotated[str | None, typer.Option("--bucket", envvar="DEPENDENCIES_BUCKET")] = None,
    prefix: Annotated[str, typer.Option("--prefix")] = DEFAULT_PREFIX,
    name: Annotated[str, typer.Option("--name")] = DEFAULT_NAME,
) -> None:
    """Point python-libs/current.json at an uploaded version (the old one becomes previous)."""
    with user_errors():
        try:
            pointer = packaging.promote_version(_require_bucket(bucket), version, prefix=prefix, name=name)
        except packaging.PackagingError as exc:
            raise fail(str(exc)) from None
        typer.echo(json.dumps(pointer, indent=2, sort_keys=True))


@deploy_app.command("rollback-deps")
def rollback_deps(
    bucket: Annotated[str | None, typer.Option("--bucket", envvar="DEPENDENCIES_BUCKET")] = None,
    prefix: Annotated[str, typer.Option("--prefix")] = DEFAULT_PREFIX,
) -> None:
    """Swap current and previous in python-libs/current.json (new cold starts load the previous version)."""
    with user_errors():
        try:
            pointer = packaging.rollback(_require_bucket(bucket), prefix=prefix)
        except packaging.PackagingError as exc:
            raise fail(str(exc)) from None
        typer.echo(json.dumps(pointer, indent=2, sort_keys=True))


def register(app: typer.Typer) -> None:
    """Adds the `deploy` group to the `tickerlake` app."""
    app.add_typer(deploy_app, name="deploy")
