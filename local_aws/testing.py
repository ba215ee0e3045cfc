"""Start the local AWS stack as a separate process, the way `make aws` runs it: for tests and `make run`."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from local_aws.server import HEALTH_PATH


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StackProcess:
    """`python -m local_aws` on a port and a state directory; restartable, with the log kept in the state dir."""

    def __init__(self, state_dir: Path, port: int | None = None):
        self.state_dir = Path(state_dir)
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.state_dir.parent / f"{self.state_dir.name}.log"

    def start(self, timeout: float = 60) -> float:
        """Start and wait until healthy; returns the seconds it took."""
        started = time.monotonic()
        self.state_dir.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local_aws", "--port", str(self.port), "--state-dir", str(self.state_dir)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            cwd=Path(__file__).resolve().parent.parent, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"local AWS stack exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.endpoint + HEALTH_PATH, timeout=1):
                    return time.monotonic() - started
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"local AWS stack not healthy after {timeout} s; see {self.log_path}")

    def stop(self, kill: bool = False) -> None:
        """Stop cleanly (SIGTERM), or crash it (SIGKILL) to prove that completed writes survive."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def restart(self, kill: bool = False) -> float:
        self.stop(kill=kill)
        return self.start()
