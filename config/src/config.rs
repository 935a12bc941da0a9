//! The client object: backend choice from `SDP_CONFIG_*`, global prefix, owner
//! record, the per-client lease.

use crate::backend::{Backend, DEFAULT_MAX_TXN_OPS};
use crate::db::{Db, Lease};
use crate::error::{Error, Result};
use crate::etcd_options::EtcdOptions;
use crate::memory::MemoryBackend;
use crate::txn::Txn;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// TTL of the per-client lease (seconds), as in the Python library.
pub const CLIENT_LEASE_TTL: i64 = 10;

/// Which backend to use.
#[derive(Debug, Clone)]
pub enum BackendChoice {
    Etcd(EtcdOptions),
    Memory,
}

impl BackendChoice {
    /// From `SDP_CONFIG_BACKEND` (`etcd3` default, `memory`), `SDP_CONFIG_HOST`,
    /// `_PORT`, `_PROTOCOL` (`http` or `https`), `_CERT` (CA certificate for https),
    /// `_CLIENT_CERT` + `_CLIENT_KEY` (client certificate for etcd's
    /// `--client-cert-auth`), `_USERNAME` + `_PASSWORD` (etcd auth), and
    /// `SDP_CONFIG_MAX_TXN_OPS` (the etcd server's `--max-txn-ops`, default 128).
    /// An empty variable counts as unset (charts render optional values that way).
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Like [`BackendChoice::from_env`] with a custom variable lookup.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |k: &str| get(k).filter(|v| !v.is_empty());
        let backend = get("SDP_CONFIG_BACKEND").unwrap_or_else(|| "etcd3".into());
        match backend.as_str() {
            "etcd3" | "etcd" => {}
            "memory" => return Ok(BackendChoice::Memory),
            other => return Err(Error::Value(format!("Unknown SDP_CONFIG_BACKEND {other:?}: use etcd3 or memory"))),
        }
        let mut o = EtcdOptions::default();
        if let Some(h) = get("SDP_CONFIG_HOST") {
            o.host = h;
        }
        if let Some(p) = get("SDP_CONFIG_PORT") {
            o.port = p.parse().map_err(|_| Error::Value(format!("SDP_CONFIG_PORT must be a port number, not {p:?}")))?;
        }
        if let Some(p) = get("SDP_CONFIG_PROTOCOL") {
            o.protocol = p;
        }
        o.cert = get("SDP_CONFIG_CERT");
        o.client_cert = get("SDP_CONFIG_CLIENT_CERT");
        o.client_key = get("SDP_CONFIG_CLIENT_KEY");
        o.username = get("SDP_CONFIG_USERNAME");
        o.password = get("SDP_CONFIG_PASSWORD");
        if let Some(n) = get("SDP_CONFIG_MAX_TXN_OPS") {
            o.max_txn_ops = n.parse().map_err(|_| Error::Value(format!("SDP_CONFIG_MAX_TXN_OPS must be a number, not {n:?}")))?;
        }
        if o.max_txn_ops == 0 {
            o.max_txn_ops = DEFAULT_MAX_TXN_OPS;
        }
        Ok(BackendChoice::Etcd(o))
    }

    pub async fn connect(&self) -> Result<Arc<dyn Backend>> {
        Ok(match self {
            #[cfg(feature = "etcd")]
            BackendChoice::Etcd(o) => Arc::new(crate::etcd::EtcdBackend::connect(o).await?),
            #[cfg(not(feature = "etcd"))]
            BackendChoice::Etcd(_) => {
                return Err(Error::Connection(
                    "this build of sdp-config has no etcd backend (feature `etcd`): use SDP_CONFIG_BACKEND=memory".into(),
                ))
            }
            BackendChoice::Memory => Arc::new(MemoryBackend::new()),
        })
    }
}

/// A configuration-database client (Python `ska_sdp_config.Config`).
pub struct Config {
    db: Db,
    prefix: String,
    owner: serde_json::Value,
    client_lease: Mutex<Option<Lease>>,
}

impl Config {
    /// Connect as the environment says (see [`BackendChoice::from_env`]).
    pub async fn from_env() -> Result<Self> {
        let backend = BackendChoice::from_env()?.connect().await?;
        Ok(Self::new(backend))
    }

    /// A client on an existing backend, no global prefix, this process as owner.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Config { db: Db::new(backend), prefix: String::new(), owner: crate::entity::default_owner(), client_lease: Mutex::new(None) }
    }

    /// A client on a fresh in-memory store.
    pub fn memory() -> Self {
        Self::new(Arc::new(MemoryBackend::new()))
    }

    /// Prefix every high-level (entity) path with `prefix` (e.g. `/__test`).
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.trim_end_matches('/').to_string();
        self
    }

    /// Use `owner` as this client's owner record.
    pub fn with_owner(mut self, owner: serde_json::Value) -> Self {
        self.owner = owner;
        self
    }

    pub fn owner(&self) -> &serde_json::Value {
        &self.owner
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Raw, non-transactional operations.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// A transaction (retry limit 64). See [`crate::txn`] for the loop.
    pub fn txn(&self) -> Txn {
        self.txn_with_retries(64)
    }

    pub fn txn_with_retries(&self, max_retries: usize) -> Txn {
        let mut t = self.db.txn().with_max_retries(max_retries);
        t.prefix = self.prefix.clone();
        t.owner = self.owner.clone();
        t
    }

    /// A new lease with keep-alive.
    pub async fn lease(&self, ttl: i64) -> Result<Lease> {
        self.db.lease(ttl).await
    }

    /// The id of this client's lease (TTL 10 s), created on first use.
    pub async fn client_lease(&self) -> Result<i64> {
        let mut g = self.client_lease.lock().await;
        if let Some(l) = g.as_ref() {
            return Ok(l.id());
        }
        let l = self.db.lease(CLIENT_LEASE_TTL).await?;
        let id = l.id();
        *g = Some(l);
        Ok(id)
    }

    /// Revoke the client lease: keys attached to it (ownership) vanish now.
    pub async fn close(&self) -> Result<()> {
        if let Some(l) = self.client_lease.lock().await.take() {
            l.revoke().await?;
        }
        Ok(())
    }
}

/// Bound for a single wait in tests and tools.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    fn choice(vars: &[(&str, &str)]) -> Result<BackendChoice> {
        BackendChoice::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn security_variables_are_read_and_empty_ones_are_unset() {
        let vars = [
            ("SDP_CONFIG_PROTOCOL", "https"),
            ("SDP_CONFIG_CERT", "/ca.pem"),
            ("SDP_CONFIG_CLIENT_CERT", "/client.pem"),
            ("SDP_CONFIG_CLIENT_KEY", "/client.key"),
            ("SDP_CONFIG_USERNAME", "sdp"),
            ("SDP_CONFIG_PASSWORD", ""),
        ];
        let BackendChoice::Etcd(o) = choice(&vars).unwrap() else { panic!("etcd expected") };
        assert_eq!(o.protocol, "https");
        assert_eq!(o.cert.as_deref(), Some("/ca.pem"));
        assert_eq!((o.client_cert.as_deref(), o.client_key.as_deref()), (Some("/client.pem"), Some("/client.key")));
        assert_eq!((o.username.as_deref(), o.password.as_deref()), (Some("sdp"), None));
    }

    /// Settings that cannot work are refused before any connection attempt, as a
    /// `ValueError` naming the variable (no server listens on port 1).
    #[tokio::test]
    async fn half_settings_are_value_errors() {
        for (vars, says) in [
            (&[("SDP_CONFIG_USERNAME", "sdp")][..], "SDP_CONFIG_PASSWORD is not"),
            (&[("SDP_CONFIG_PASSWORD", "x")][..], "SDP_CONFIG_USERNAME is not"),
            (&[("SDP_CONFIG_CERT", "/ca.pem")][..], "SDP_CONFIG_PROTOCOL=https"),
            (&[("SDP_CONFIG_PROTOCOL", "ftp")][..], "use http or https"),
        ] {
            let vars = [vars, &[("SDP_CONFIG_PORT", "1")]].concat();
            let err = choice(&vars).unwrap().connect().await.err().expect("refused");
            assert!(matches!(&err, Error::Value(m) if m.contains(says)), "{vars:?}: {err:?}");
        }
    }
}
