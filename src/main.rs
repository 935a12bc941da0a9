//! `sdp`: the SKA SDP prototype control system's command-line entry point.

use clap::{Parser, Subcommand};

mod cmd;
mod configdb;
mod controller;
mod deploy_mode;
mod deployer;
mod error;
mod logging;
mod runtime;
mod signals;
mod workflows;

#[derive(Parser)]
#[command(name = "sdp", version, about = "SKA SDP prototype control system")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the embedded Tango database (sys/database/2), or load registrations into a database.
    Database(cmd::database::DatabaseArgs),
    /// Start the whole system on this machine: Tango database, etcd, device servers,
    /// processing controller and local-process deployer.
    Up(cmd::up::UpArgs),
    /// Processing controller: turns processing blocks into workflow deployments.
    Controller(cmd::controller::ControllerArgs),
    /// Deployer: makes deployments real (helm releases or local processes).
    Deployer(cmd::deployer::DeployerArgs),
    /// Run a workflow for one processing block (`sdp workflow testdask <pb_id>`).
    Workflow(cmd::workflow::WorkflowArgs),
    /// What runs: devices with State/obsState, processing blocks, deployments.
    Status,
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Database(a) => cmd::database::run(a),
        Command::Up(a) => cmd::up::run(a),
        Command::Status => cmd::status::run(),
        Command::Controller(a) => cmd::controller::run(a),
        Command::Deployer(a) => cmd::deployer::run(a),
        Command::Workflow(a) => cmd::workflow::run(a),
    };
    std::process::exit(code)
}
