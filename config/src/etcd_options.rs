//! How to reach etcd: the settings [`crate::Config`] reads from `SDP_CONFIG_*`. Kept apart
//! from the etcd backend so that a build without the `etcd` feature (the fuzz targets, which
//! only use the memory backend) still parses the same environment and says what is missing.

use crate::backend::DEFAULT_MAX_TXN_OPS;
use std::time::Duration;

/// How to reach etcd.
#[derive(Debug, Clone)]
pub struct EtcdOptions {
    /// One host, or a comma-separated list of `host[:port]` (the members of a cluster, as
    /// etcdctl's `--endpoints`); a member without a port uses [`EtcdOptions::port`].
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

impl EtcdOptions {
    /// The `host:port` of every member [`EtcdOptions::host`] names, in order.
    pub fn members(&self) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for m in self.host.split(',').map(str::trim) {
            if m.is_empty() {
                return Err(format!("SDP_CONFIG_HOST {:?}: an empty member in the list", self.host));
            }
            // `[v6]:port`, `[v6]`, `host:port`, `host` (a bare IPv6 address has several colons)
            let (host, port) = match m.rsplit_once(':') {
                Some((h, p)) if !h.is_empty() && (!h.contains(':') || h.ends_with(']')) => {
                    let p = p.parse::<u16>().map_err(|_| format!("SDP_CONFIG_HOST {:?}: bad port in {m:?}", self.host))?;
                    (h.to_string(), p)
                }
                _ => (m.to_string(), self.port),
            };
            out.push(format!("{host}:{port}"));
        }
        Ok(out)
    }

    /// The URL of every member (`http://host:port`).
    pub fn endpoints(&self) -> Result<Vec<String>, String> {
        Ok(self.members()?.into_iter().map(|m| format!("{}://{m}", self.protocol)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_host_port_lists() {
        let o = |host: &str| EtcdOptions { host: host.into(), port: 2379, ..Default::default() };
        assert_eq!(o("127.0.0.1").members().unwrap(), ["127.0.0.1:2379"]);
        assert_eq!(o("a:1,b, c:3").members().unwrap(), ["a:1", "b:2379", "c:3"]);
        assert_eq!(o("[::1]:5,[::1]").members().unwrap(), ["[::1]:5", "[::1]:2379"]);
        assert_eq!(o("a:1,b").endpoints().unwrap(), ["http://a:1", "http://b:2379"]);
        assert!(o("a,,b").members().unwrap_err().contains("empty member"));
        assert!(o("a:x").members().unwrap_err().contains("bad port"));
    }
}
