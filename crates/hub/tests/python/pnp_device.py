"""An IoT Plug and Play temperature controller on the unmodified azure-iot-device 2.14 SDK,
driven by crates/hub/tests/python_sdk.rs against an in-process twinhub hub.

Usage: pnp_device.py MODE CA_PEM_FILE CREDENTIAL...
  MODE sas:      CREDENTIAL = connection string
  MODE renewal:  same, with sastoken_ttl=130 (the SDK renews after ~10 s by reconnecting)
  MODE x509:     CREDENTIAL = hostname gateway device_id cert_file key_file
  MODE module:   CREDENTIAL = connection string with ModuleId

Prints one JSON object per line for the test to read ({"event": ...}); exits 0 when the flow
the mode asks for completed.
"""
import json
import sys
import threading

from azure.iot.device import X509, IoTHubDeviceClient, IoTHubModuleClient, Message, MethodResponse

MODEL_ID = "dtmi:com:example:TemperatureController;2"


def say(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def main():
    mode, ca_file = sys.argv[1], sys.argv[2]
    args = sys.argv[3:]
    kwargs = dict(
        product_info=MODEL_ID,
        server_verification_cert=open(ca_file).read(),
        connection_retry=False,
        keep_alive=30,
    )
    if mode == "renewal":
        kwargs["sastoken_ttl"] = 130
    if mode == "x509":
        hostname, gateway, device_id, cert, key = args
        client = IoTHubDeviceClient.create_from_x509_certificate(
            x509=X509(cert_file=cert, key_file=key),
            hostname=hostname,
            device_id=device_id,
            gateway_hostname=gateway,
            **kwargs,
        )
    elif mode == "module":
        client = IoTHubModuleClient.create_from_connection_string(args[0], **kwargs)
    else:
        client = IoTHubDeviceClient.create_from_connection_string(args[0], **kwargs)

    client.connect()
    say("connected")

    msg = Message(json.dumps({"temperature": 21.5}))
    msg.content_type = "application/json"
    msg.content_encoding = "utf-8"
    msg.custom_properties["$.sub"] = "thermostat1"
    client.send_message(msg)
    say("telemetry_sent")
    if mode in ("x509", "module"):
        client.patch_twin_reported_properties({"serialNumber": "SN-" + mode})
        say("reported")
        client.shutdown()
        say("done")
        return

    twin = client.get_twin()
    say("twin", twin=twin)
    client.patch_twin_reported_properties(
        {"thermostat1": {"__t": "c", "maxTempSinceLastReboot": 30.1}}
    )
    say("reported")

    wanted = 2 if mode == "renewal" else 1
    seen = {"desired": 0, "method": 0, "c2d": 0}
    finished = threading.Event()
    lock = threading.Lock()

    def count(kind):
        with lock:
            seen[kind] += 1
            need_c2d = 1 if mode == "sas" else 0
            if seen["desired"] >= wanted and seen["method"] >= wanted and seen["c2d"] >= need_c2d:
                finished.set()

    def on_method(request):
        say("method", name=request.name, payload=request.payload)
        client.send_method_response(
            MethodResponse.create_from_method_request(request, 200, {"maxTemp": 30.1, "minTemp": 20.0})
        )
        count("method")

    def on_desired(patch):
        say("desired", patch=patch)
        component = patch.get("thermostat1")
        if component and "targetTemperature" in component:
            client.patch_twin_reported_properties(
                {
                    "thermostat1": {
                        "__t": "c",
                        "targetTemperature": {
                            "value": component["targetTemperature"],
                            "ac": 200,
                            "av": patch["$version"],
                            "ad": "applied",
                        },
                    }
                }
            )
            say("acknowledged", version=patch["$version"])
            count("desired")

    def on_c2d(message):
        say(
            "c2d",
            data=message.data.decode("utf-8", "replace"),
            message_id=message.message_id,
            properties=message.custom_properties,
        )
        count("c2d")

    client.on_method_request_received = on_method
    client.on_twin_desired_properties_patch_received = on_desired
    client.on_message_received = on_c2d
    say("ready")
    if not finished.wait(timeout=90):
        say("incomplete", seen=seen)
        client.shutdown()
        sys.exit(1)
    client.shutdown()
    say("done")


if __name__ == "__main__":
    main()
