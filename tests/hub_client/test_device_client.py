"""The unmodified azure-iot-device 2.14 SDK, as an IoT Plug and Play temperature controller,
against the real twinhub binary: every effect is checked through twinhub's HTTP API."""

from __future__ import annotations

import json
import subprocess

import pytest

from controller import MODEL_ID, TemperatureController
from server import wait_for


def connected_controller(hub, device_id: str, **kwargs) -> TemperatureController:
    device = hub.create_device(device_id, {"type": "sas"})
    assert device["authentication"]["type"] == "sas"
    controller = TemperatureController.from_connection_string(
        device["connectionString"], hub.ca_pem, **kwargs)
    controller.connect()
    return controller


def reported(hub, device_id: str, *path, module_id=None):
    value = hub.twin(device_id, module_id)["properties"]["reported"]
    for name in path:
        if not isinstance(value, dict) or name not in value:
            return None
        value = value[name]
    return value


def test_the_device_announces_its_model_sends_telemetry_and_reports_properties(hub):
    controller = connected_controller(hub, "controller-1")
    try:
        controller.send_telemetry("thermostat1", {"temperature": 21.5})
        controller.send_telemetry(None, {"workingSet": 1024.0})
        controller.report("thermostat1", {"maxTempSinceLastReboot": 30.1})
        controller.report(None, {"serialNumber": "SN-0001"})
        controller.report("deviceInformation", {"manufacturer": "twinhub", "totalMemory": 1024.0})

        twin = hub.twin("controller-1")
        assert twin["modelId"] == MODEL_ID
        assert twin["properties"]["reported"]["thermostat1"] == {
            "__t": "c", "maxTempSinceLastReboot": 30.1}
        assert twin["properties"]["reported"]["serialNumber"] == "SN-0001"
        assert twin["properties"]["reported"]["deviceInformation"]["manufacturer"] == "twinhub"

        device = hub.device("controller-1")
        assert device["connectionState"] == "connected"
        assert device["lastActivityTime"]

        digital = hub.digital_twin("controller-1")
        assert digital["$dtId"] == "controller-1"
        assert digital["$metadata"]["$model"] == MODEL_ID
        assert digital["thermostat1"]["maxTempSinceLastReboot"] == 30.1
        assert digital["serialNumber"] == "SN-0001"

        # Telemetry the model forbids is delivered (the device is the truth) but counted.
        before = twin["modelViolationCount"]
        controller.send_telemetry("thermostat1", {"temperature": "very hot"})
        wait_for("the bad telemetry to be counted",
                 lambda: hub.twin("controller-1")["modelViolationCount"] > before, server=hub)
    finally:
        controller.shutdown()
    wait_for("the disconnect to be recorded",
             lambda: hub.device("controller-1")["connectionState"] == "disconnected", server=hub)


def test_a_desired_update_is_received_and_acknowledged(hub):
    controller = connected_controller(hub, "controller-2")
    try:
        twin = hub.patch_desired("controller-2", {"thermostat1": {"__t": "c", "targetTemperature": 25.0}})
        version = twin["properties"]["desired"]["$version"]
        patches = wait_for("the desired patch on the device", lambda: list(controller.desired_patches),
                           server=hub)
        assert patches[0]["thermostat1"]["targetTemperature"] == 25.0
        assert patches[0]["$version"] == version
        ack = wait_for("the acknowledgement in the twin",
                       lambda: reported(hub, "controller-2", "thermostat1", "targetTemperature"),
                       server=hub)
        assert ack == {"value": 25.0, "ac": 200, "av": version, "ad": "applied"}

        digital = hub.digital_twin("controller-2")
        meta = digital["thermostat1"]["$metadata"]["targetTemperature"]
        assert meta["desiredValue"] == 25.0
        assert meta["desiredVersion"] == version
        assert meta["ackCode"] == 200
        assert meta["ackVersion"] == version

        # A desired value the model forbids is refused with the element and pointer named.
        refused = hub.request("PATCH", "/api/v1/devices/controller-2/twin",
                              {"properties": {"desired": {"thermostat1": {"__t": "c", "targetTemperature": "warm"}}}})
        assert refused.status == 422, refused.describe()
        problem = refused.json()
        assert problem["errors"], problem
        assert any("targetTemperature" in (e.get("pointer") or "") for e in problem["errors"]), problem
    finally:
        controller.shutdown()


def test_a_component_command_and_a_root_command_are_answered(hub):
    offline = hub.create_device("controller-off", {"type": "sas"})
    assert offline["connectionString"]
    answer = hub.command("controller-off", "reboot", 5)
    assert answer.status == 404, answer.describe()

    controller = connected_controller(hub, "controller-3")
    try:
        # The SDK subscribes to methods when the handler is set; wait until it is connected.
        wait_for("the connection", lambda: hub.device("controller-3")["connectionState"] == "connected",
                 server=hub)
        answer = hub.command("controller-3", "getMaxMinReport", "2024-01-01T00:00:00Z",
                             component="thermostat1")
        assert answer.status == 200, answer.describe()
        body = answer.json()
        assert body["status"] == 200
        assert body["payload"]["maxTemp"] == 30.1
        assert controller.methods[-1] == ("thermostat1*getMaxMinReport", "2024-01-01T00:00:00Z")

        answer = hub.command("controller-3", "reboot", 5)
        assert answer.status == 200, answer.describe()
        assert answer.json()["payload"] == {"rebootingIn": 5}

        refused = hub.command("controller-3", "reboot", "soon")
        assert refused.status == 422, refused.describe()
        unknown = hub.command("controller-3", "selfDestruct", None)
        assert unknown.status == 422, unknown.describe()
    finally:
        controller.shutdown()


def test_cloud_to_device_messages_arrive_with_their_properties(hub):
    device = hub.create_device("controller-4", {"type": "sas"})
    queued = hub.send_message("controller-4", "sent while offline", {"color": "red"})
    controller = TemperatureController.from_connection_string(device["connectionString"], hub.ca_pem)
    controller.connect()
    try:
        hub.send_message("controller-4", {"on": True}, {"shade": "dark blue", "flag": None})
        messages = wait_for("both messages on the device",
                            lambda: list(controller.messages) if len(controller.messages) >= 2 else None,
                            server=hub)
        first, second = messages
        assert first.data == b"sent while offline"
        assert first.message_id == queued["messageId"]
        assert first.custom_properties["color"] == "red"
        assert json.loads(second.data) == {"on": True}
        assert second.custom_properties["shade"] == "dark blue"
    finally:
        controller.shutdown()


def openssl(*args: str) -> str:
    try:
        done = subprocess.run(["openssl", *args], check=True, capture_output=True, text=True)
    except FileNotFoundError:
        pytest.skip("openssl is missing: apt-get install openssl")
    return done.stdout


def test_x509_devices_connect_self_signed_and_ca_signed(hub, tmp_path):
    # Self-signed, registered by its SHA-256 thumbprint.
    cert, key = tmp_path / "self.pem", tmp_path / "self.key"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=x509-self")
    fingerprint = openssl("x509", "-in", str(cert), "-noout", "-fingerprint", "-sha256")
    thumbprint = fingerprint.split("=", 1)[1].strip().replace(":", "")
    created = hub.create_device("x509-self", {"type": "selfSigned",
                                              "x509Thumbprint": {"primaryThumbprint": thumbprint}})
    assert created["authentication"]["type"] == "selfSigned"

    # Signed by the development CA twinhub made, identified by its CN.
    ca_cert, ca_key = hub.certs / "ca.pem", hub.certs / "ca.key"
    signed, signed_key, request = tmp_path / "ca.pem", tmp_path / "ca.key", tmp_path / "ca.csr"
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(signed_key), "-out", str(request), "-subj", "/CN=x509-ca")
    extensions = tmp_path / "client.ext"
    extensions.write_text("extendedKeyUsage = clientAuth\nkeyUsage = digitalSignature\n")
    openssl("x509", "-req", "-in", str(request), "-CA", str(ca_cert), "-CAkey", str(ca_key),
            "-CAcreateserial", "-out", str(signed), "-days", "2", "-extfile", str(extensions))
    hub.create_device("x509-ca", {"type": "certificateAuthority"})

    for device_id, cert_file, key_file in [("x509-self", cert, key), ("x509-ca", signed, signed_key)]:
        controller = TemperatureController.from_x509(hub.host, device_id, str(cert_file),
                                                     str(key_file), hub.ca_pem)
        controller.connect()
        try:
            controller.report("thermostat1", {"maxTempSinceLastReboot": 19.5})
            twin = hub.twin(device_id)
            assert twin["modelId"] == MODEL_ID
            assert twin["properties"]["reported"]["thermostat1"]["maxTempSinceLastReboot"] == 19.5
        finally:
            controller.shutdown()


def test_a_module_identity_connects_and_keeps_its_own_twin(hub):
    hub.create_device("edge-01", {"type": "sas"})
    module = hub.create_module("edge-01", "filter")
    assert "ModuleId=filter" in module["connectionString"]
    controller = TemperatureController.from_connection_string(
        module["connectionString"], hub.ca_pem, module=True)
    controller.connect()
    try:
        controller.send_telemetry(None, {"workingSet": 12.0})
        controller.report(None, {"serialNumber": "MOD-1"})
        twin = hub.twin("edge-01", "filter")
        assert twin["moduleId"] == "filter"
        assert twin["modelId"] == MODEL_ID
        assert twin["properties"]["reported"]["serialNumber"] == "MOD-1"
        assert "serialNumber" not in hub.twin("edge-01")["properties"]["reported"]
    finally:
        controller.shutdown()


def test_after_a_sas_token_renewal_desired_updates_and_commands_still_arrive(hub):
    # With a 130 s token the SDK renews 120 s before expiry: it disconnects, reconnects with a
    # new token and never subscribes again, so only the persistent session keeps it reachable.
    controller = connected_controller(hub, "controller-5", sastoken_ttl=130)
    try:
        first = wait_for("the connection", lambda: hub.device("controller-5")["connectionStateUpdatedTime"],
                         server=hub)
        wait_for("the reconnect with a renewed token",
                 lambda: (d := hub.device("controller-5"))["connectionState"] == "connected"
                 and d["connectionStateUpdatedTime"] != first,
                 timeout_s=60, server=hub)
        hub.patch_desired("controller-5", {"thermostat1": {"__t": "c", "targetTemperature": 18.0}})
        wait_for("the desired patch after the renewal", lambda: controller.desired_patches, server=hub)
        answer = hub.command("controller-5", "getMaxMinReport", "2024-01-01T00:00:00Z",
                             component="thermostat1")
        assert answer.status == 200, answer.describe()
        assert answer.json()["payload"]["maxTemp"] == 30.1
    finally:
        controller.shutdown()
