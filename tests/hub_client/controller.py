"""An IoT Plug and Play temperature controller on the unmodified `azure-iot-device` SDK, the
way Azure's samples write one (samples/pnp/temp_controller_with_thermostats.py): the model id
announced through `product_info`, telemetry per component with `$.sub`, reported properties
with the `__t: c` component marker, writable properties acknowledged with
`{value, ac, av, ad}`, component commands named `component*command`.

Everything the device receives is recorded so that tests can wait for it.
"""

from __future__ import annotations

import json
import threading

from azure.iot.device import (
    X509,
    IoTHubDeviceClient,
    IoTHubModuleClient,
    Message,
    MethodResponse,
)

MODEL_ID = "dtmi:com:example:TemperatureController;2"


class TemperatureController:
    def __init__(self, client):
        self.client = client
        self.lock = threading.Lock()
        self.desired_patches: list[dict] = []
        self.methods: list[tuple[str, object]] = []
        self.messages: list = []
        self.max_temp = 30.1
        client.on_method_request_received = self._on_method
        client.on_twin_desired_properties_patch_received = self._on_desired
        client.on_message_received = self._on_message

    @classmethod
    def from_connection_string(cls, connection_string: str, ca_pem: str, module: bool = False,
                               **kwargs) -> "TemperatureController":
        client_class = IoTHubModuleClient if module else IoTHubDeviceClient
        client = client_class.create_from_connection_string(
            connection_string, server_verification_cert=ca_pem, product_info=MODEL_ID,
            connection_retry=False, keep_alive=30, **kwargs)
        return cls(client)

    @classmethod
    def from_x509(cls, host: str, device_id: str, cert_file: str, key_file: str,
                  ca_pem: str) -> "TemperatureController":
        client = IoTHubDeviceClient.create_from_x509_certificate(
            x509=X509(cert_file=cert_file, key_file=key_file), hostname=host, device_id=device_id,
            server_verification_cert=ca_pem, product_info=MODEL_ID, connection_retry=False,
            keep_alive=30)
        return cls(client)

    def connect(self) -> None:
        self.client.connect()

    def shutdown(self) -> None:
        self.client.shutdown()

    # ----- what the device sends -----

    def send_telemetry(self, component: str | None, values: dict) -> None:
        message = Message(json.dumps(values))
        message.content_type = "application/json"
        message.content_encoding = "utf-8"
        if component is not None:
            message.custom_properties["$.sub"] = component
        self.client.send_message(message)

    def report(self, component: str | None, values: dict) -> None:
        patch = dict(values)
        if component is not None:
            patch = {component: {"__t": "c", **values}}
        self.client.patch_twin_reported_properties(patch)

    def get_twin(self) -> dict:
        return self.client.get_twin()

    # ----- what the device receives -----

    def _on_method(self, request) -> None:
        with self.lock:
            self.methods.append((request.name, request.payload))
        if request.name == "thermostat1*getMaxMinReport":
            status, payload = 200, {"maxTemp": self.max_temp, "minTemp": 20.0,
                                    "avgTemp": 25.0, "startTime": request.payload,
                                    "endTime": request.payload}
        elif request.name == "reboot":
            status, payload = 200, {"rebootingIn": request.payload}
        else:
            status, payload = 404, {"error": f"unknown command {request.name}"}
        self.client.send_method_response(
            MethodResponse.create_from_method_request(request, status, payload))

    def _on_desired(self, patch: dict) -> None:
        with self.lock:
            self.desired_patches.append(patch)
        version = patch.get("$version")
        for component, values in patch.items():
            if component.startswith("$") or not isinstance(values, dict):
                continue
            acks = {name: {"value": value, "ac": 200, "av": version, "ad": "applied"}
                    for name, value in values.items() if name != "__t"}
            if acks:
                self.report(component, acks)

    def _on_message(self, message) -> None:
        with self.lock:
            self.messages.append(message)
