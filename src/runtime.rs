//! The tokio runtime the long-running subcommands run on, and their exit status.

use crate::error::Result;

/// A small multi-threaded runtime (this machine has few cores).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

/// Run `fut` to completion on a fresh runtime; an error is logged and gives exit status 1.
pub fn block_on(fut: impl std::future::Future<Output = Result<()>>) -> i32 {
    crate::logging::init_logging();
    match runtime().block_on(fut) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e}");
            1
        }
    }
}
