//! Logging of the `sdp` subcommands: one line per event on stderr (which `sdp up` and the
//! process deployer send to a log file), no colours.

/// Logging to stderr; level from `SDP_LOG_LEVEL` (or `RUST_LOG`), default `info`.
pub fn init_logging() {
    let filter = std::env::var("SDP_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")).unwrap_or_else(|_| "info".into()).to_lowercase();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
}
