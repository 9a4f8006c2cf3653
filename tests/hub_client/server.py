"""A real twinhub process with its device hub on one loopback address, and its HTTP API.

Each server gets its own 127.x.y.z: the device SDK always connects to port 8883, so servers
run side by side only on different addresses. The address is the hub's host name too, so the
development certificate twinhub makes names it as an IP SAN and the SDK verifies it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
HTTP_TIMEOUT_S = 120.0
MQTT_PORT = 8883


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self):
        return json.loads(self.body)

    def describe(self) -> str:
        text = self.body[:2000].decode("utf-8", "replace")
        return f"HTTP {self.status} ({self.headers.get('content-type', '-')}): {text}"


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


class Twinhub:
    """`twinhub serve` with a fresh SQLite database and the device hub on `host`:8883."""

    def __init__(self, binary: Path, workdir: Path, host: str, admin_token: str, *,
                 database_url: str | None = None, certs: Path | None = None,
                 host_names: list[str] | None = None, config: str | None = None,
                 extra_args: list[str] | None = None):
        """By default a SQLite database and certificates of its own in `workdir`; instances
        sharing a database share `certs` and name every instance's host in `host_names`
        (the first goes into connection strings). `config` is TOML for `--config`."""
        self.binary = binary.resolve()
        self.workdir = workdir
        self.host = host
        self.admin_token = admin_token
        self.port = free_port(host)
        self.base_url = f"http://{host}:{self.port}"
        self.database_url = database_url or f"sqlite://{workdir / 'twinhub.db'}"
        self.certs = certs or workdir / "certs"
        self.host_names = host_names or [host]
        self.config = config
        self.extra_args = extra_args or []
        self.log_path = workdir / "twinhub.log"
        self.process: subprocess.Popen | None = None

    @property
    def ca_pem(self) -> str:
        return (self.certs / "ca.pem").read_text()

    def start(self) -> None:
        command = [str(self.binary), "serve"]
        if self.config is not None:
            config_path = self.workdir / "twinhub.toml"
            config_path.write_text(self.config)
            command += ["--config", str(config_path)]
        command += [
            "--bind", f"{self.host}:{self.port}",
            "--database-url", self.database_url,
            "--hub-bind", f"{self.host}:{MQTT_PORT}",
            "--hub-host-name", ",".join(self.host_names),
            "--hub-certs-dir", str(self.certs),
            # The service API's default 127.0.0.1:8443 would collide between instances.
            "--service-bind", f"{self.host}:{free_port(self.host)}",
            *self.extra_args,
            "--admin-token", self.admin_token,
        ]
        print(f"starting: {' '.join(command[:-1])} ***", flush=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWINHUB_")}
        env["NO_COLOR"] = "1"
        env.setdefault("RUST_LOG", "info,twinhub_hub=debug")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.workdir, env=env,
            )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        """Poll /readyz and the MQTT port until both answer; fail early if the process exits."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"twinhub exited with {self.process.returncode}\n{self.log_tail()}")
            try:
                if self.request("GET", "/readyz").status == 200:
                    with socket.create_connection((self.host, MQTT_PORT), timeout=2):
                        print(f"twinhub ready at {self.base_url}, hub at {self.host}:{MQTT_PORT}", flush=True)
                        return
            except OSError as err:
                last = str(err)
            time.sleep(0.05)  # poll interval, not a readiness guess
        self.kill()
        raise RuntimeError(f"twinhub not ready after {READY_TIMEOUT_S}s: {last}\n{self.log_tail()}")

    def stop(self) -> int:
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

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text("utf-8", "replace")
        except OSError:
            return "(no log)"
        return "--- twinhub log (tail) ---\n" + "\n".join(text.splitlines()[-lines:])

    # ----- the HTTP API, as the admin -----

    def request(self, method: str, path: str, body=None, headers: dict | None = None) -> Response:
        data = None
        all_headers = {"Authorization": f"Bearer {self.admin_token}"}
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as resp:
                return Response(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
        except urllib.error.HTTPError as err:
            return Response(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())

    def ok(self, method: str, path: str, body=None, expect=(200, 201, 202, 204), headers=None):
        resp = self.request(method, path, body, headers)
        if resp.status not in expect:
            raise AssertionError(f"{method} {path}: {resp.describe()}\n{self.log_tail()}")
        return resp.json() if resp.body else None

    def push_models(self, texts: list[str]) -> None:
        body = ("[" + ",".join(texts) + "]").encode()
        self.ok("POST", "/api/v1/models", body)

    def create_device(self, device_id: str, authentication: dict | None = None) -> dict:
        body = {"deviceId": device_id}
        if authentication is not None:
            body["authentication"] = authentication
        return self.ok("POST", "/api/v1/devices", body, expect=(201,))

    def create_module(self, device_id: str, module_id: str) -> dict:
        return self.ok("POST", f"/api/v1/devices/{quote(device_id)}/modules", {"moduleId": module_id}, expect=(201,))

    def device(self, device_id: str) -> dict:
        return self.ok("GET", f"/api/v1/devices/{quote(device_id)}", expect=(200,))

    def twin(self, device_id: str, module_id: str | None = None) -> dict:
        path = f"/api/v1/devices/{quote(device_id)}"
        if module_id is not None:
            path += f"/modules/{quote(module_id)}"
        return self.ok("GET", path + "/twin", expect=(200,))

    def digital_twin(self, device_id: str) -> dict:
        return self.ok("GET", f"/api/v1/devices/{quote(device_id)}/digitaltwin", expect=(200,))

    def patch_desired(self, device_id: str, desired: dict) -> dict:
        return self.ok("PATCH", f"/api/v1/devices/{quote(device_id)}/twin",
                       {"properties": {"desired": desired}}, expect=(200,))

    def command(self, device_id: str, command: str, payload, component: str | None = None,
                timeout_s: int = 30) -> Response:
        path = f"/api/v1/devices/{quote(device_id)}"
        if component is not None:
            path += f"/components/{quote(component)}"
        path += f"/commands/{quote(command)}?timeout={timeout_s}"
        return self.request("POST", path, json.dumps(payload).encode())

    def send_message(self, device_id: str, body, properties: dict | None = None) -> dict:
        message = {"body": body, "properties": properties or {}}
        return self.ok("POST", f"/api/v1/devices/{quote(device_id)}/messages", message, expect=(202,))


def wait_for(what: str, check, timeout_s: float = 30.0, server: Twinhub | None = None):
    """Polls `check()` until it returns something truthy; fails with `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)  # poll interval, not a readiness guess
    tail = server.log_tail() if server else ""
    raise AssertionError(f"timed out waiting for {what}; last seen: {last!r}\n{tail}")
