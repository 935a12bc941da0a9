//! One module per `sdp` subcommand; each is a thin layer over the library crates
//! (or, for controller/deployer/workflow, over `src/controller`, `src/deployer`, `src/workflows`).

pub mod controller;
pub mod database;
pub mod deployer;
pub mod status;
pub mod up;
pub mod workflow;
