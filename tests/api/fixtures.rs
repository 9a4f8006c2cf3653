//! DTDL documents the tests push: a small device family with dependencies between models.

pub const THERMOSTAT: &str = r#"{
  "@context": "dtmi:dtdl:context;2",
  "@id": "dtmi:com:example:Thermostat;1",
  "@type": "Interface",
  "displayName": "Thermostat",
  "description": "Reports the current temperature and takes a target temperature.",
  "contents": [
    {
      "@type": ["Telemetry", "Temperature"],
      "name": "temperature",
      "schema": "double",
      "unit": "degreeCelsius"
    },
    {
      "@type": "Property",
      "name": "targetTemperature",
      "schema": "double",
      "writable": true
    }
  ]
}
"#;

pub const DEVICE_INFORMATION: &str = r#"{
  "@context": "dtmi:dtdl:context;2",
  "@id": "dtmi:azure:DeviceManagement:DeviceInformation;1",
  "@type": "Interface",
  "displayName": "Device Information",
  "contents": [
    { "@type": "Property", "name": "manufacturer", "schema": "string" },
    { "@type": "Property", "name": "model", "schema": "string" }
  ]
}"#;

pub const TEMPERATURE_CONTROLLER: &str = r#"{
  "@context": "dtmi:dtdl:context;2",
  "@id": "dtmi:com:example:TemperatureController;1",
  "@type": "Interface",
  "displayName": { "en": "Temperature Controller" },
  "contents": [
    { "@type": "Component", "name": "thermostat1", "schema": "dtmi:com:example:Thermostat;1" },
    { "@type": "Component", "name": "thermostat2", "schema": "dtmi:com:example:Thermostat;1" },
    { "@type": "Component", "name": "deviceInformation", "schema": "dtmi:azure:DeviceManagement:DeviceInformation;1" },
    { "@type": "Command", "name": "reboot" }
  ]
}"#;

/// A minimal valid interface with the given DTMI.
pub fn interface(dtmi: &str) -> String {
    format!(
        r#"{{"@context": "dtmi:dtdl:context;2", "@id": "{dtmi}", "@type": "Interface", "displayName": "Model {dtmi}"}}"#
    )
}

/// An interface that extends another.
pub fn extending(dtmi: &str, base: &str) -> String {
    format!(
        r#"{{"@context": "dtmi:dtdl:context;2", "@id": "{dtmi}", "@type": "Interface", "extends": "{base}"}}"#
    )
}

/// The three device models as one batch, dependents first (the server orders them).
pub fn device_batch() -> String {
    format!("[{TEMPERATURE_CONTROLLER}, {THERMOSTAT}, {DEVICE_INFORMATION}]")
}
