"""The unmodified Azure IoT service SDK (`azure-iot-hub` 2.7.0) against twinhub's IoT Hub
service API, while the unmodified device SDK runs the device: registry, twin, queries, a
direct method and a component command, then the digital twin (model id, a writable property
by JSON Patch that the device receives and acknowledges, a command), then deletion.

Only the connection string and the trusted CA (REQUESTS_CA_BUNDLE) differ from Azure.
"""

from __future__ import annotations

import pytest
from azure.iot.hub import DigitalTwinClient, IoTHubRegistryManager
from azure.iot.hub.models import CloudToDeviceMethod, QuerySpecification, Twin, TwinProperties
from msrest.exceptions import HttpOperationError

from controller import MODEL_ID, TemperatureController
from server import wait_for


def query_ids(registry: IoTHubRegistryManager, text: str, page: int = 100) -> list[str]:
    """Every device id a query returns, following continuation tokens."""
    ids, token = [], None
    while True:
        result = registry.query_iot_hub(QuerySpecification(query=text), token, page)
        ids.extend(item.device_id for item in result.items)
        token = result.continuation_token
        if not token:
            return ids


def test_a_backend_manages_queries_and_controls_a_plug_and_play_device(hub):
    registry = IoTHubRegistryManager.from_connection_string(hub.service_connection_string())
    assert hub.service_connection_string().startswith(f"HostName={hub.host}:{hub.service_port};")

    # Registry: create (keys generated), read, update, list.
    created = registry.create_device_with_sas("controller-01", None, None, "enabled")
    assert created.device_id == "controller-01"
    key = created.authentication.symmetric_key.primary_key
    assert key
    read = registry.get_device("controller-01")
    assert read.etag == created.etag
    updated = registry.update_device_with_sas(
        "controller-01", read.etag, key, created.authentication.symmetric_key.secondary_key,
        "enabled")
    assert updated.status == "enabled"
    registry.create_device_with_sas("bystander-01", None, None, "enabled")
    assert {d.device_id for d in registry.get_devices()} == {"controller-01", "bystander-01"}
    with pytest.raises(HttpOperationError):
        registry.get_device("nobody")

    # The device connects with the key the registry made.
    controller = TemperatureController.from_connection_string(
        hub.device_connection_string("controller-01", key), hub.ca_pem)
    controller.connect()
    try:
        controller.report("thermostat1", {"maxTempSinceLastReboot": 31.5})
        controller.report(None, {"serialNumber": "SN-0001"})

        # Twin: tags and a desired property with the twin's etag.
        twin = wait_for("the reported serial number", lambda: (
            t := registry.get_twin("controller-01"))
            and t.properties.reported.get("serialNumber") == "SN-0001" and t, server=hub)
        patched = registry.update_twin(
            "controller-01",
            Twin(tags={"site": "plant-7"}, properties=TwinProperties(desired={"note": "hello"})),
            twin.etag)
        assert patched.tags == {"site": "plant-7"}
        assert patched.properties.desired["note"] == "hello"
        wait_for("the desired patch on the device",
                 lambda: any(p.get("note") == "hello" for p in controller.desired_patches), server=hub)

        # Queries: on tags and on reported properties, paged.
        assert query_ids(registry, "SELECT * FROM devices WHERE tags.site = 'plant-7'") == ["controller-01"]
        assert query_ids(registry,
                         "SELECT * FROM devices WHERE properties.reported.thermostat1.maxTempSinceLastReboot > 30"
                         ) == ["controller-01"]
        assert query_ids(registry, "SELECT * FROM devices", page=1) == ["bystander-01", "controller-01"]

        # A direct method and a component command, answered by the device.
        answer = registry.invoke_device_method(
            "controller-01", CloudToDeviceMethod(method_name="reboot", payload=3,
                                                 response_timeout_in_seconds=20))
        assert answer.status == 200
        assert answer.payload == {"rebootingIn": 3}

        digital = DigitalTwinClient.from_connection_string(hub.service_connection_string("service"))
        report = digital.invoke_component_command(
            "controller-01", "thermostat1", "getMaxMinReport", "2026-01-01T00:00:00Z",
            connect_timeout_in_seconds=5, response_timeout_in_seconds=20)
        assert report["maxTemp"] == controller.max_temp
        assert report["startTime"] == "2026-01-01T00:00:00Z"

        # The digital twin: model id, a writable property by JSON Patch, a root command.
        twin = digital.get_digital_twin("controller-01")
        assert twin["$dtId"] == "controller-01"
        assert twin["$metadata"]["$model"] == MODEL_ID
        assert twin["thermostat1"]["maxTempSinceLastReboot"] == 31.5
        digital.update_digital_twin(
            "controller-01", [{"op": "add", "path": "/thermostat1/targetTemperature", "value": 42}])
        wait_for("the device's acknowledgement of targetTemperature", lambda: (
            dt := digital.get_digital_twin("controller-01"))
            and dt["thermostat1"]["$metadata"].get("targetTemperature", {}).get("ackCode") == 200,
            server=hub)
        assert any(p.get("thermostat1", {}).get("targetTemperature") == 42
                   for p in controller.desired_patches)
        rebooted = digital.invoke_command("controller-01", "reboot", 5)
        assert rebooted == {"rebootingIn": 5}
        with pytest.raises(HttpOperationError):
            # No such property in the model: refused before it reaches the device.
            digital.update_digital_twin(
                "controller-01", [{"op": "add", "path": "/thermostat1/noSuchProperty", "value": 1}])
    finally:
        controller.shutdown()

    registry.delete_device("controller-01")
    assert [d.device_id for d in registry.get_devices()] == ["bystander-01"]


def test_a_policy_without_the_right_is_refused_and_an_offline_device_is_not_online(hub):
    reader = IoTHubRegistryManager.from_connection_string(hub.service_connection_string("registryRead"))
    with pytest.raises(HttpOperationError) as refused:
        reader.create_device_with_sas("sneaky", None, None, "enabled")
    assert refused.value.response.status_code == 401
    assert "IotHubUnauthorizedAccess" in refused.value.response.text

    owner = IoTHubRegistryManager.from_connection_string(hub.service_connection_string())
    owner.create_device_with_sas("sleeper", None, None, "enabled")
    assert [d.device_id for d in reader.get_devices()] == ["sleeper"]
    with pytest.raises(HttpOperationError) as offline:
        owner.invoke_device_method("sleeper", CloudToDeviceMethod(method_name="reboot", payload=1,
                                                                  response_timeout_in_seconds=5))
    assert offline.value.response.status_code == 404
    assert "DeviceNotOnline" in offline.value.response.text
