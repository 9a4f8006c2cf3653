"""Start and stop a real twinhub process, and talk to its HTTP API with the standard library."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
HTTP_TIMEOUT_S = 120.0


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def describe(self) -> str:
        """Status, content type and the start of the body, for failure messages."""
        text = self.body[:2000].decode("utf-8", "replace")
        return f"HTTP {self.status} ({self.headers.get('content-type', '-')}): {text}"


def request(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> Response:
    """One HTTP request; any status is returned, not raised."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as resp:
            return Response(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
    except urllib.error.HTTPError as err:
        return Response(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())


def free_port() -> int:
    """A port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Twinhub:
    """A twinhub server on a random loopback port with a fresh SQLite database."""

    def __init__(self, binary: Path, workdir: Path, admin_token: str):
        self.binary = binary.resolve()
        self.workdir = workdir
        self.admin_token = admin_token
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "twinhub.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        database = self.workdir / "twinhub.db"
        command = [
            str(self.binary), "serve",
            "--no-hub",  # the DMR client needs no device hub, and port 8883 may be taken
            "--bind", f"127.0.0.1:{self.port}",
            "--database-url", f"sqlite://{database}",
            "--admin-token", self.admin_token,
        ]
        print(f"starting: {' '.join(command[:-1])} ***", flush=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWINHUB_")}
        env["NO_COLOR"] = "1"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.workdir, env=env,
            )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        """Poll GET /readyz until 200; fail early if the process exits."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"twinhub exited with {self.process.returncode} before it was ready\n{self.log_tail()}"
                )
            try:
                resp = request("GET", self.base_url + "/readyz")
                if resp.status == 200:
                    print(f"twinhub ready at {self.base_url}", flush=True)
                    return
                last = resp.describe()
            except OSError as err:
                last = str(err)
            time.sleep(0.05)  # poll interval, not a readiness guess
        self.kill()
        raise RuntimeError(f"twinhub not ready after {READY_TIMEOUT_S}s: {last}\n{self.log_tail()}")

    def stop(self) -> int:
        """SIGTERM and wait for a graceful exit; returns the exit code (killed: -9)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text("utf-8", "replace")
        except OSError:
            return "(no log)"
        return "--- twinhub log (tail) ---\n" + "\n".join(text.splitlines()[-lines:])

    def get(self, path: str) -> Response:
        return request("GET", self.base_url + path)

    def push(self, body: bytes) -> Response:
        return request(
            "POST",
            self.base_url + "/api/v1/models",
            body=body,
            headers={
                "Authorization": f"Bearer {self.admin_token}",
                "Content-Type": "application/json",
            },
        )

    def get_json(self, path: str):
        resp = self.get(path)
        if resp.status != 200:
            raise AssertionError(f"GET {path}: {resp.describe()}")
        return json.loads(resp.body)
