//! `twinhub dev-ca DIR [--host NAME]...`: writes a development CA (`ca.pem`, `ca.key`) and a
//! server certificate for the named hosts (`server.pem`, `server.key`) into DIR, for the
//! device hub's MQTT endpoint (`--tls-cert DIR/server.pem --tls-key DIR/server.key`) and for
//! devices to trust (`ca.pem`). Hosts may be DNS names or IP addresses.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::Exit;

#[derive(Args)]
pub struct DevCaArgs {
    /// Folder to write the certificates into (created if missing; existing files replaced).
    dir: PathBuf,
    /// A DNS name or IP address the server certificate names; repeat for several.
    #[arg(long = "host", value_name = "NAME", default_values_t = ["localhost".to_owned()])]
    hosts: Vec<String>,
}

pub fn run(args: DevCaArgs) -> ExitCode {
    match twinhub_hub::devca::write_dev_ca(&args.dir, &args.hosts) {
        Ok(files) => {
            println!("CA certificate:     {}", files.ca_cert.display());
            println!("CA key:             {}", files.ca_key.display());
            println!("server certificate: {}", files.server_cert.display());
            println!("server key:         {}", files.server_key.display());
            println!("hosts:              {}", args.hosts.join(", "));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("twinhub dev-ca: {error}");
            Exit::Unavailable.into()
        }
    }
}
