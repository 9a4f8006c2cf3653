"""Fixtures: a twinhub with the device hub and the IoT Hub service API on an address of its
own, holding the TemperatureController model. The server and the device (the unmodified
azure-iot-device SDK running a Plug and Play controller) come from tests/hub_client.

Environment:
  TWINHUB_BIN             the twinhub binary (default: target/debug/twinhub in the repo)
  TWINHUB_MODELS_SAMPLE   the models sample (default: ../shared/models-sample beside the repo)
"""

from __future__ import annotations

import itertools
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "hub_client"))

from server import MQTT_PORT, Twinhub, free_port  # noqa: E402

HERE = Path(__file__).resolve().parent
DEVICE_MODELS = REPO / "tests" / "hub_client" / "models"

# 127.78.P.N: P from the process id, N per test (the device SDK always uses port 8883, so
# servers side by side need addresses of their own; tests/hub_client uses 127.77.*).
_ADDRESSES = itertools.count(1)


def _address() -> str:
    return f"127.78.{os.getpid() % 250 + 1}.{next(_ADDRESSES)}"


def _sample_root() -> Path:
    configured = os.environ.get("TWINHUB_MODELS_SAMPLE")
    return Path(configured) if configured else REPO.parent / "shared" / "models-sample"


class ServiceTwinhub(Twinhub):
    """`twinhub serve` with the hub on host:8883 and the service API on host:service_port."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.service_port = free_port(self.host)

    def start(self) -> None:
        """As `Twinhub.start`, with the service API on its own port of the same address."""
        command = [
            str(self.binary), "serve",
            "--bind", f"{self.host}:{self.port}",
            "--database-url", f"sqlite://{self.workdir / 'twinhub.db'}",
            "--hub-bind", f"{self.host}:{MQTT_PORT}",
            "--hub-host-name", self.host,
            "--hub-certs-dir", str(self.certs),
            "--service-bind", f"{self.host}:{self.service_port}",
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
        with socket.create_connection((self.host, self.service_port), timeout=5):
            pass

    @property
    def ca_file(self) -> Path:
        return self.certs / "ca.pem"

    def service_connection_string(self, policy: str = "iothubowner") -> str:
        return self.ok("GET", f"/api/v1/hub/policies/{policy}/connection-string",
                       expect=(200,))["connectionString"]

    def device_connection_string(self, device_id: str, key: str) -> str:
        return f"HostName={self.host};DeviceId={device_id};SharedAccessKey={key}"


@pytest.fixture(scope="session")
def model_texts() -> list[str]:
    sample = _sample_root()
    dependencies = [
        sample / "dtmi/com/example/thermostat-1.json",
        sample / "dtmi/azure/devicemanagement/deviceinformation-1.json",
    ]
    missing = [str(p) for p in dependencies if not p.is_file()]
    if missing:
        pytest.skip(f"the models sample lacks {missing}")
    texts = [p.read_text() for p in dependencies]
    texts.append((DEVICE_MODELS / "temperaturecontroller-2.json").read_text())
    return texts


@pytest.fixture
def hub(tmp_path, model_texts, monkeypatch):
    binary = REPO / os.environ.get("TWINHUB_BIN", "target/debug/twinhub")
    if not binary.is_file():
        pytest.fail(f"twinhub binary not found at {binary}: build it or set TWINHUB_BIN")
    server = ServiceTwinhub(binary, tmp_path, _address(), secrets.token_hex(16))
    server.start()
    server.push_models(model_texts)
    # The service SDK trusts only what requests trusts: REQUESTS_CA_BUNDLE, not SSL_CERT_FILE.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.ca_file))
    yield server
    code = server.stop()
    assert code == 0, f"twinhub did not stop gracefully on SIGTERM (exit {code})\n{server.log_tail()}"
