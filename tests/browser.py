"""Headless Chromium for the browser tests: find (or install) it, take a screenshot, dump the DOM.

    from tests.browser import dump_dom, require_chromium, screenshot

    require_chromium()                                   # skips the test with the reason when unavailable
    html = dump_dom("http://127.0.0.1:3000/", virtual_time_budget_ms=5000)
    png = screenshot("file:///tmp/page.html", tmp_path / "page.png")

When Chromium is missing and the tests run as root on Debian/Ubuntu, `apt-get install -y chromium` is tried
once per machine (serialised by a lock file, so parallel test workers do not race); otherwise the test is
skipped with a clear reason. Every run uses a fresh profile folder and switches off background networking,
component updates and first-run tasks, so a run touches nothing but the URL it is given.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

CANDIDATES = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
)
_INSTALL_LOCK = Path(tempfile.gettempdir()) / "tickerlake-chromium-install.lock"
_install_failed: str | None = None

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--mute-audio",
)


def find_chromium() -> str | None:
    """The Chromium executable: CHROMIUM_BINARY, a known path, or `chromium` on PATH; None if absent."""
    configured = os.environ.get("CHROMIUM_BINARY")
    if configured and os.access(configured, os.X_OK):
        return configured
    for path in CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _install() -> str | None:
    """apt-get install -y chromium (root only); the reason it could not be done, or None on success."""
    if os.geteuid() != 0:
        return "Chromium is not installed and the tests do not run as root (install it: apt-get install -y chromium)"
    if shutil.which("apt-get") is None:
        return "Chromium is not installed and there is no apt-get to install it"
    _INSTALL_LOCK.touch(exist_ok=True)
    with open(_INSTALL_LOCK) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be installing it right now
        if find_chromium():
            return None
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for command in (
            ["apt-get", "install", "-y", "chromium"],
            ["apt-get", "update"],
            ["apt-get", "install", "-y", "chromium"],
        ):
            done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
            if command[1] == "install" and done.returncode == 0 and find_chromium():
                return None
        return f"apt-get install -y chromium failed: {done.stderr.strip()[-500:]}"


def require_chromium() -> str:
    """The Chromium executable, installing it if possible; skips the calling test with the reason if not."""
    global _install_failed
    found = find_chromium()
    if found:
        return found
    if _install_failed is None:
        _install_failed = _install() or ""
    found = find_chromium()
    if not found:
        pytest.skip(_install_failed or "Chromium is not available")
    return found


@contextlib.contextmanager
def _profile() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="tickerlake-chromium-") as folder:
        yield Path(folder)


def _run(args: list[str], profile: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HOME=str(profile))  # crash reports, caches: inside the throwaway profile
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)


def _flags(profile: Path, virtual_time_budget_ms: int | None) -> list[str]:
    flags = [*FLAGS, f"--user-data-dir={profile / 'profile'}", f"--crash-dumps-dir={profile / 'crashes'}"]
    if virtual_time_budget_ms is not None:
        flags.append(f"--virtual-time-budget={int(virtual_time_budget_ms)}")
    return flags


def screenshot(
    url: str,
    path: str | os.PathLike[str],
    *,
    window_size: tuple[int, int] = (1280, 900),
    virtual_time_budget_ms: int | None = None,
    timeout: float = 90.0,
) -> Path:
    """A PNG screenshot of `url` at `window_size`; RuntimeError with Chromium's output if none was made."""
    binary = require_chromium()
    out = Path(path).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    with _profile() as profile:
        done = _run(
            [
                binary,
                *_flags(profile, virtual_time_budget_ms),
                f"--screenshot={out}",
                f"--window-size={window_size[0]},{window_size[1]}",
                url,
            ],
            profile,
            timeout,
        )
    if not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(
            f"chromium made no screenshot of {url} (exit {done.returncode}): {done.stderr[-2000:]}"
        )
    return out


def dump_dom(url: str, *, virtual_time_budget_ms: int | None = None, timeout: float = 90.0) -> str:
    """The serialised DOM of `url` after load (and after `virtual_time_budget_ms` of virtual time, for pages
    that render with JavaScript); RuntimeError with Chromium's output when it fails."""
    binary = require_chromium()
    with _profile() as profile:
        done = _run([binary, *_flags(profile, virtual_time_budget_ms), "--dump-dom", url], profile, timeout)
    if done.returncode != 0 or "<html" not in done.stdout.lower():
        raise RuntimeError(
            f"chromium could not dump the DOM of {url} (exit {done.returncode}): {done.stderr[-2000:]}"
        )
    return done.stdout


def png_is_blank(path: str | os.PathLike[str], *, min_colours: int = 8) -> bool:
    """True when the PNG has fewer than `min_colours` distinct colours (a blank or single-colour page)."""
    from PIL import Image

    with Image.open(path) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    return colours is not None and len(colours) < min_colours
