"""Fixtures: a twinhub with the device hub on an address of its own, holding the
TemperatureController model with its thermostat and device-information interfaces.

Environment:
  TWINHUB_BIN             the twinhub binary (default: target/debug/twinhub in the repo)
  TWINHUB_MODELS_SAMPLE   the models sample (default: ../shared/models-sample beside the repo)
"""

from __future__ import annotations

import itertools
import os
import secrets
from pathlib import Path

import pytest

from server import Twinhub

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

# 127.77.P.N: P from the process id, N per test, so this run and any other (another checkout's
# tests, the hub crate's tests on 127.0.0.N) never share an address on port 8883.
_ADDRESSES = itertools.count(1)


def _address() -> str:
    return f"127.77.{os.getpid() % 250 + 1}.{next(_ADDRESSES)}"


def _sample_root() -> Path:
    configured = os.environ.get("TWINHUB_MODELS_SAMPLE")
    return Path(configured) if configured else REPO.parent / "shared" / "models-sample"


@pytest.fixture(scope="session")
def model_texts() -> list[str]:
    """The controller (TemperatureController;2, not in the sample) and the sample's interfaces
    it uses, in dependency order."""
    sample = _sample_root()
    dependencies = [
        sample / "dtmi/com/example/thermostat-1.json",
        sample / "dtmi/azure/devicemanagement/deviceinformation-1.json",
    ]
    missing = [str(p) for p in dependencies if not p.is_file()]
    if missing:
        pytest.skip(f"the models sample lacks {missing}")
    texts = [p.read_text() for p in dependencies]
    texts.append((HERE / "models/temperaturecontroller-2.json").read_text())
    return texts


@pytest.fixture
def hub(tmp_path, model_texts):
    binary = REPO / os.environ.get("TWINHUB_BIN", "target/debug/twinhub")
    if not binary.is_file():
        pytest.fail(f"twinhub binary not found at {binary}: build it or set TWINHUB_BIN")
    server = Twinhub(binary, tmp_path, _address(), secrets.token_hex(16))
    server.start()
    server.push_models(model_texts)
    yield server
    code = server.stop()
    assert code == 0, f"twinhub did not stop gracefully on SIGTERM (exit {code})\n{server.log_tail()}"
