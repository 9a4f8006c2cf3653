//! Tests that drive twinhub from real third-party clients, run from `cargo test` so that the
//! one test command runs everything: the web UI in headless Chromium (playwright-core, in
//! `tests/browser`), the unmodified Azure Python DMR client (`tests/real_client`) and the
//! unmodified Azure IoT device SDK against the device hub (`tests/hub_client`), the service SDK
//! against the IoT Hub service API (`tests/service_client`). Each
//! installs its own packages (npm, a Python venv) on first use. Where a tool the machine must
//! provide is missing (node, Debian's chromium, python3), the test prints how to get it and
//! skips, except in CI (`CI` set), where that is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether `program` runs; if not, a notice (or, in CI, a failure) saying how to install it.
pub fn tool_available(program: &str, install: &str) -> bool {
    // OpenSSL's CLI knows no `--version`; it prints its version for `version`.
    let version_arg = if program == "openssl" {
        "version"
    } else {
        "--version"
    };
    let found = Command::new(program)
        .arg(version_arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{program} is missing: {install}"
        );
        eprintln!("NOTICE: skipping: {program} is missing ({install})");
    }
    found
}

/// `npm ci` in `dir` unless its packages are installed already (one at a time: tests that
/// share a folder run in parallel).
pub fn npm_install(dir: &Path, marker: &str) {
    static NPM: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = NPM
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if dir.join("node_modules").join(marker).is_dir() {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(dir)
        .status()
        .expect("run npm");
    assert!(status.success(), "npm ci in {} failed", dir.display());
}

fn run(command: &mut Command, what: &str) {
    let status = command.status().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(status.success(), "{what} failed: {status}");
}

#[test]
fn the_web_ui_works_in_headless_chromium() {
    if !tool_available("node", "install Node.js")
        || !tool_available(
            "chromium",
            "apt-get install chromium chromium-driver (`.ci/run` does)",
        )
    {
        return;
    }
    let browser = repository().join("tests/browser");
    npm_install(&browser, "playwright-core");
    run(
        Command::new("node")
            .arg(browser.join("flow.mjs"))
            .env("TWINHUB_BIN", env!("CARGO_BIN_EXE_twinhub")),
        "the browser flow (screenshots in target/ui-screenshots)",
    );
}

#[test]
fn the_azure_python_client_resolves_every_sample_model_from_twinhub() {
    let sample = std::env::var_os("TWINHUB_MODELS_SAMPLE").map_or_else(
        || repository().join("../shared/models-sample"),
        PathBuf::from,
    );
    if !sample.is_dir() {
        eprintln!(
            "NOTICE: skipping the real-client test: {} is absent",
            sample.display()
        );
        return;
    }
    if !tool_available("python3", "install Python 3 with venv") {
        return;
    }
    run(
        Command::new("bash")
            .arg(repository().join(".ci/real-client-setup"))
            .current_dir(repository()),
        "setting up the Python client (target/real-client-venv)",
    );
    run(
        Command::new(repository().join("target/real-client-venv/bin/python"))
            .args(["-m", "pytest", "-q", "tests/real_client"])
            .current_dir(repository())
            .env("TWINHUB_BIN", env!("CARGO_BIN_EXE_twinhub"))
            .env("PYTHONDONTWRITEBYTECODE", "1"),
        "azure-iot-modelsrepository against twinhub",
    );
}

#[test]
fn the_azure_iot_device_sdk_runs_a_plug_and_play_controller_against_twinhub() {
    if !tool_available("python3", "install Python 3 with venv")
        || !tool_available("openssl", "apt-get install openssl")
    {
        return;
    }
    run(
        Command::new("bash")
            .arg(repository().join(".ci/hub-client-setup"))
            .current_dir(repository()),
        "setting up the device SDK (target/hub-client-venv)",
    );
    run(
        Command::new(repository().join("target/hub-client-venv/bin/python"))
            .args(["-m", "pytest", "-q", "tests/hub_client"])
            .current_dir(repository())
            .env("TWINHUB_BIN", env!("CARGO_BIN_EXE_twinhub"))
            .env("PYTHONDONTWRITEBYTECODE", "1"),
        "azure-iot-device against twinhub's device hub",
    );
}

#[test]
fn the_azure_iot_hub_service_sdk_manages_and_controls_devices_through_twinhub() {
    if !tool_available("python3", "install Python 3 with venv") {
        return;
    }
    run(
        Command::new("bash")
            .arg(repository().join(".ci/service-client-setup"))
            .current_dir(repository()),
        "setting up the service SDK (target/service-client-venv)",
    );
    run(
        Command::new(repository().join("target/service-client-venv/bin/python"))
            .args(["-m", "pytest", "-q", "tests/service_client"])
            .current_dir(repository())
            .env("TWINHUB_BIN", env!("CARGO_BIN_EXE_twinhub"))
            .env("PYTHONDONTWRITEBYTECODE", "1"),
        "azure-iot-hub against twinhub's service API",
    );
}
