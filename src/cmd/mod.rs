//! One module per `sdp` subcommand; each is a thin layer over the library crates.

pub mod database;
