"""A real `kupala serve` for the tests.

The binary is ``$KUPALA_BIN`` (a relative path is taken from the current
directory, else from the repository root), by default
``<repo>/target/debug/kupala``. A missing binary fails the server tests
(build it with ``cargo build``); it never skips them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
LISTENING = re.compile(r"listening on http://(\S+?)[\s(]")


def kupala_bin() -> Path:
    raw = os.environ.get("KUPALA_BIN")
    if not raw:
        return REPO / "target" / "debug" / "kupala"
    path = Path(raw)
    if path.is_absolute() or path.exists():
        return path
    return REPO / path


class Server:
    """One `kupala serve --demo off` process on a data directory."""

    def __init__(self, binary: Path, data: Path, config: Path | None = None, ml: bool = False) -> None:
        self.binary = binary
        self.data = data
        self.config = config
        self.ml = ml
        self.proc: subprocess.Popen[str] | None = None
        self.addr: str | None = None
        self.log: list[str] = []

    @property
    def url(self) -> str:
        return f"ws://{self.addr}/ws"

    def start(self, listen: str = "127.0.0.1:0", timeout: float = 60.0) -> Server:
        """Start it on ``listen`` and wait for its "listening on" log line."""
        cmd = [str(self.binary), "serve", "--demo", "off", "--listen", listen, "--data", str(self.data)]
        if self.config is not None:
            cmd += ["--config", str(self.config)]
        env = dict(os.environ)
        # No EOD timer (nor ML jobs, unless asked for): the figures the tests
        # expect change only with what they submit.
        env.update(
            {"KUPALA_EOD__ENABLED": "false", "KUPALA_ML__ENABLED": str(self.ml).lower(), "NO_COLOR": "1"}
        )
        env.pop("RUST_LOG", None)
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        found = threading.Event()
        lines = self.log
        proc = self.proc

        def drain() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                lines.append(line.rstrip("\n"))
                m = LISTENING.search(line)
                if m and not found.is_set():
                    self.addr = m.group(1)
                    found.set()

        threading.Thread(target=drain, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.05):
            if proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(
                    f"kupala serve did not start (exit {proc.returncode}); stderr:\n" + "\n".join(lines)
                )
        return self

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (a graceful shutdown), then wait; kill it if it hangs."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else 0
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"kupala serve did not stop within {timeout:.0f} s after SIGTERM") from None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def binary() -> Path:
    path = kupala_bin()
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"kupala binary not found at {path}: run `cargo build` in {REPO} or set KUPALA_BIN",
            pytrace=False,
        )
    return path


@pytest.fixture
def server_factory(binary: Path, tmp_path: Path):
    started: list[Server] = []

    def make(data: Path | None = None, config: Path | None = None, ml: bool = False) -> Server:
        s = Server(binary, data or tmp_path / "data", config, ml)
        started.append(s)
        return s

    yield make
    for s in started:
        try:
            s.stop()
        except Exception:
            s.kill()


@pytest.fixture
def server(server_factory) -> Server:
    """A started server on a fresh data directory and a free port."""
    return server_factory().start()
