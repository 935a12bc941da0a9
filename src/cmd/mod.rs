//! One module per `sdp` subcommand: argument parsing, then a call into the logic.

pub mod controller;
pub mod deployer;
pub mod workflow;
