"""Two twinhub processes on one PostgreSQL database and the local NATS server (`--nats-url`),
each with its own device hub address: the unmodified azure-iot-device client connects to the
first, and a command and a desired update sent through the second's API reach it there.

Needs TWINHUB_TEST_POSTGRES_URL (a server where a database may be created; `.ci/run` sets it)
and NATS on TWINHUB_TEST_NATS_URL (default nats://127.0.0.1:4222)."""

from __future__ import annotations

import itertools
import os
import secrets
import subprocess
import urllib.parse

import pytest

from conftest import REPO
from controller import TemperatureController
from server import Twinhub, wait_for


# 127.78.P.N: apart from conftest's 127.77.P.N, so no other test shares an address on 8883.
_ADDRESSES = itertools.count(1)


def _address() -> str:
    return f"127.78.{os.getpid() % 250 + 1}.{next(_ADDRESSES)}"


@pytest.fixture
def database():
    """A fresh, uniquely named PostgreSQL database, dropped afterwards."""
    admin_url = os.environ.get("TWINHUB_TEST_POSTGRES_URL")
    if not admin_url:
        pytest.skip("TWINHUB_TEST_POSTGRES_URL is not set: the scale-out test needs PostgreSQL")
    name = f"twinhub_scale_{secrets.token_hex(6)}"
    subprocess.run(["psql", admin_url, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    parts = urllib.parse.urlsplit(admin_url)
    yield urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))
    subprocess.run(["psql", admin_url, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
                   check=True)


@pytest.fixture
def cluster(tmp_path, database, model_texts):
    binary = REPO / os.environ.get("TWINHUB_BIN", "target/debug/twinhub")
    nats_url = os.environ.get("TWINHUB_TEST_NATS_URL", "nats://127.0.0.1:4222")
    # A hub name of its own keeps this cluster's NATS subjects apart from any other run's.
    config = f'[routing]\nhub_name = "pytest{secrets.token_hex(6)}"\n'
    token = secrets.token_hex(16)
    hosts = [_address(), _address()]
    servers = []
    for n, host in enumerate(hosts):
        workdir = tmp_path / f"instance-{n}"
        workdir.mkdir()
        servers.append(Twinhub(
            binary, workdir, host, token, database_url=database, certs=tmp_path / "certs",
            # Each instance names itself first (for its connection strings), and the others.
            host_names=[host] + [h for h in hosts if h != host], config=config,
            extra_args=["--nats-url", nats_url, "--instance-id", f"pytest-{host}"]))
    try:
        for server in servers:
            server.start()  # one after the other: the first makes the development CA
        servers[0].push_models(model_texts)
        yield servers
    finally:
        codes = [server.stop() for server in servers]
    assert codes == [0, 0], f"an instance did not stop gracefully: {codes}\n" + "\n".join(
        s.log_tail() for s in servers)


def test_a_command_and_a_desired_update_through_one_instance_reach_the_device_on_the_other(cluster):
    first, second = cluster
    device = first.create_device("scaled-1", {"type": "sas"})
    assert f"HostName={first.host};" in device["connectionString"]
    controller = TemperatureController.from_connection_string(device["connectionString"], first.ca_pem)
    controller.connect()
    try:
        wait_for("the connection, seen through the second instance",
                 lambda: second.device("scaled-1")["connectionState"] == "connected", server=second)

        answer = second.command("scaled-1", "reboot", 5)
        assert answer.status == 200, answer.describe() + "\n" + first.log_tail()
        assert answer.json() == {"status": 200, "payload": {"rebootingIn": 5}}
        answer = second.command("scaled-1", "getMaxMinReport", "2024-01-01T00:00:00Z",
                                component="thermostat1")
        assert answer.status == 200, answer.describe()
        assert controller.methods[-1] == ("thermostat1*getMaxMinReport", "2024-01-01T00:00:00Z")

        twin = second.patch_desired("scaled-1", {"thermostat1": {"__t": "c", "targetTemperature": 23.5}})
        version = twin["properties"]["desired"]["$version"]
        patches = wait_for("the desired patch on the device", lambda: list(controller.desired_patches),
                           server=first)
        assert patches[-1]["thermostat1"]["targetTemperature"] == 23.5
        assert patches[-1]["$version"] == version
        # The controller acknowledges through the first instance; the second reads it back.
        ack = wait_for("the acknowledgement, read through the second instance",
                       lambda: (second.twin("scaled-1")["properties"]["reported"]
                                .get("thermostat1", {}).get("targetTemperature")), server=second)
        assert ack["value"] == 23.5 and ack["ac"] == 200 and ack["av"] == version
    finally:
        controller.shutdown()
    wait_for("the disconnection, seen through the second instance",
             lambda: second.device("scaled-1")["connectionState"] == "disconnected", server=second)
    assert second.command("scaled-1", "reboot", 5).status == 404
