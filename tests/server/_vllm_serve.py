"""Start a real ``vllm serve`` (the OpenAI-compatible server) on the embedded model for a test, and stop it with its
children (it runs in a session of its own, so its whole process group goes)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from papertrans.server.engine import EngineSettings
from papertrans.server.engine.remote import VLLM_SERVE_ENV, vllm_serve_command

__all__ = ["free_port", "stop_group", "vllm_serve"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, wait_s: float = 60) -> None:
    """Signal the process group of ``proc`` (started with ``start_new_session``) and reap it; SIGKILL if slow."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=wait_s)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        pass
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)


@contextmanager
def vllm_serve(
    model_path: Path,
    settings: EngineSettings,
    log: Path,
    start_timeout_s: float = 420,
    extra_args: Sequence[str] = (),
) -> Iterator[str]:
    """Yield the base URL of a running ``vllm serve`` on ``model_path`` with the server's engine settings
    (``extra_args`` go on its command line, e.g. ``--chat-template FILE``)."""
    port = free_port()
    cmd = [*vllm_serve_command(model_path, settings, port=port, python=sys.executable), *extra_args]
    env = {**os.environ, **VLLM_SERVE_ENV, "VLLM_CPU_KVCACHE_SPACE": "1"}
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"vllm serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"vllm serve not ready after {start_timeout_s} s:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield url
    finally:
        stop_group(proc)
