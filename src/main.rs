//! The `twinhub` command: parses the command line and hands each subcommand to its module in
//! `twinhub::cli` (`serve` runs the repository; the others are client-side tools).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use twinhub::cli::{self, Exit};

/// twinhub: a self-hosted IoT Plug and Play model repository.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the model repository service (HTTP API, DMR resolution tree, docs).
    Serve(Box<cli::serve::ServeArgs>),
    /// Print the OpenAPI document of the HTTP API as JSON.
    Openapi,
    /// Validate model files locally, then push them to a repository in dependency order.
    Push(cli::push::PushArgs),
    /// Validate model files offline (references from folders and/or a repository).
    Validate(cli::validate::ValidateArgs),
    /// Fetch models and their dependencies from any DMR repository.
    Resolve(cli::resolve::ResolveArgs),
    /// Bulk-import a DMR folder tree or zip straight into a database (server stopped).
    Import(cli::import::ImportArgs),
    /// Write a static DMR tree (or zip) from a database or a repository.
    Export(cli::export::ExportArgs),
    /// Administration on the server machine (e.g. `admin create-user alice --role admin`).
    Admin(cli::admin::AdminArgs),
    /// The device hub's registry through the API: create, list, show, delete devices and
    /// print connection strings.
    Device(cli::device::DeviceArgs),
    /// Write a development CA and a server certificate for the device hub's MQTT endpoint.
    DevCa(cli::dev_ca::DevCaArgs),
    /// The hub's shared access policies and service connection strings, through the API.
    Hub(cli::hub::HubArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // --help and --version are not errors; a wrong command line gets its own code so
            // that CI can tell it from the documented outcomes (0–4).
            let _ = error.print();
            return if error.use_stderr() {
                Exit::Usage.into()
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Serve(args) => cli::serve::run(*args),
        Command::Openapi => cli::openapi::run(),
        Command::Push(args) => cli::push::run(args),
        Command::Validate(args) => cli::validate::run(args),
        Command::Resolve(args) => cli::resolve::run(args),
        Command::Import(args) => cli::import::run(args),
        Command::Export(args) => cli::export::run(args),
        Command::Admin(args) => cli::block_on("admin", cli::admin::run(args)),
        Command::DevCa(args) => cli::dev_ca::run(args),
        Command::Device(args) => cli::block_on("device", cli::device::run(args)),
        Command::Hub(args) => cli::block_on("hub", cli::hub::run(args)),
    }
}
