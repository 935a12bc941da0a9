//! `sdp`: the SKA SDP prototype control system's command-line entry point.

use clap::{Parser, Subcommand};

mod cmd;

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
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Database(a) => cmd::database::run(a),
    };
    std::process::exit(code)
}
