"""Run the real server (uvicorn on ``create_app``) as a subprocess on a free local port, with the fake engine."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

import httpx

from papertrans.server.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``with ServerProcess(settings) as srv:`` starts the server and waits until ``/stats/feedback`` answers."""

    def __init__(self, settings: Settings, log: Path, *, api_keys: str = "") -> None:
        self.settings = settings
        self.log_path = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PAPERTRANS_MODEL": "fake",
            "PAPERTRANS_DATA_DIR": str(settings.data_dir),
            "PAPERTRANS_API_KEYS": api_keys or "[]",
            "PYTHONPATH": str(REPO),
        }
        if settings.store.url:
            self.env["PAPERTRANS_STORE__URL"] = settings.store.url
        self.proc: subprocess.Popen[bytes] | None = None
        # serve=True runs the product's `papertrans serve` (its signal handling and exit codes) instead of uvicorn
        self.serve = False

    def start(self, timeout: float = 90.0) -> ServerProcess:
        cmd = [sys.executable, "-m", "uvicorn", "--factory", "papertrans.server.app:create_app",
               "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        if self.serve:
            cmd = [sys.executable, "-m", "papertrans.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                   "--log-level", "warning"]
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/stats/feedback", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout}s: {self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flushing; what was acknowledged must already be durable."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "_log", None) is not None:
            self._log.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
