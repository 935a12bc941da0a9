//! Errors of the configuration library.
//!
//! The variants mirror the exception classes of ska-sdp-config 0.0.5 so that the
//! `sdpcfg` tool can print the same `<Kind>: <message>` line the Python tool ended
//! its traceback with (`Collision: Cannot create /foo/bar, as it already exists!`).

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to the configuration database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Invalid input: bad path, bad entity, bad value (Python `ValueError`).
    #[error("{0}")]
    Value(String),
    /// A key that must not exist exists (Python `Collision` / `ConfigCollision`).
    #[error("{message}")]
    Collision { path: String, message: String },
    /// A key that must exist does not, or changed under a revision guard
    /// (Python `Vanished` / `ConfigVanished`).
    #[error("{message}")]
    Vanished { path: String, message: String },
    /// The operation could not complete: retries exhausted, id space exhausted,
    /// transaction too large (Python `RuntimeError`).
    #[error("{0}")]
    Runtime(String),
    /// The database could not be reached or answered with an error.
    #[error("{0}")]
    Connection(String),
    /// The database answered but refused who we are: wrong user name or password, a
    /// server certificate our CA does not vouch for, a client certificate it does not
    /// accept. Retrying with the same settings cannot help, so callers that wait for the
    /// database to come up stop on this one.
    #[error("{0}")]
    Access(String),
}

impl Error {
    /// The class name the Python library used for this error; `sdpcfg` prints
    /// `<kind>: <message>`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Value(_) => "ValueError",
            Error::Collision { .. } => "Collision",
            Error::Vanished { .. } => "Vanished",
            Error::Runtime(_) => "RuntimeError",
            Error::Connection(_) => "ConnectionError",
            Error::Access(_) => "AccessError",
        }
    }

    pub(crate) fn collision_create(path: &str) -> Error {
        Error::Collision { path: path.to_string(), message: format!("Cannot create {path}, as it already exists!") }
    }

    pub(crate) fn vanished_update(path: &str) -> Error {
        Error::Vanished { path: path.to_string(), message: format!("Cannot update {path}, as it does not exist!") }
    }

    /// Non-transactional delete of a missing key.
    pub(crate) fn vanished_delete(path: &str) -> Error {
        Error::Vanished { path: path.to_string(), message: format!("Cannot delete {path}, as it does not exist!") }
    }

    /// Transactional delete of a missing key (the Python wording differs, kept as is).
    pub(crate) fn vanished_delete_txn(path: &str) -> Error {
        Error::Vanished { path: path.to_string(), message: format!("Cannot delete {path}, it does not exist!") }
    }
}
