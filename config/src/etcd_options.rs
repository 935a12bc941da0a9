//! How to reach etcd: the settings [`crate::Config`] reads from `SDP_CONFIG_*`. Kept apart
//! from the etcd backend so that a build without the `etcd` feature (the fuzz targets, which
//! only use the memory backend) still parses the same environment and says what is missing.

use crate::backend::DEFAULT_MAX_TXN_OPS;
use std::time::Duration;

/// How to reach etcd.
#[derive(Debug, Clone)]
pub struct EtcdOptions {
    pub host: String,
    pub port: u16,
    /// `http` or `https`.
    pub protocol: String,
    /// CA certificate (PEM file) that signed the server's certificate; required for
    /// `https` (no system trust store is loaded, so nothing else could vouch for etcd).
    pub cert: Option<String>,
    /// Client certificate and its private key (PEM files), for etcd servers that require
    /// client certificates (`--client-cert-auth`). Both or neither.
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Bound on connecting and on every unary request.
    pub timeout: Duration,
    /// The server's `--max-txn-ops` (default 128).
    pub max_txn_ops: usize,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        EtcdOptions {
            host: "127.0.0.1".into(),
            port: 2379,
            protocol: "http".into(),
            cert: None,
            client_cert: None,
            client_key: None,
            username: None,
            password: None,
            timeout: Duration::from_secs(5),
            max_txn_ops: DEFAULT_MAX_TXN_OPS,
        }
    }
}
