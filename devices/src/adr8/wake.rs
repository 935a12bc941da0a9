//! A device asking itself to publish what its background work saw.
//!
//! The runtime publishes the events a device pushes when a request to it ends; it has no way
//! (yet) for a device's background task to push. The ADR-8 subarray leaves RESOURCING when a
//! watch of the configuration DB sees the receive addresses, with nobody calling it — and
//! TMC learns of it only through a change event (the same for healthState when the
//! configuration DB stops or starts answering). So the watch sends the device a real Tango
//! request (`SyncObsState`) over loopback: the handler runs with the device locked like any
//! command, and its pushes go out in order after it. When the runtime gains a push-from-
//! anywhere handle (wt-17's room), this module goes.

use std::time::Duration;

use tango::any::CmdValue;
use tango::client::Connection;
use tango::dbclient::{Database, TangoHost};
use tango::ior::{object_key_for, Ior};

/// The command the device calls on itself.
pub const SYNC_COMMAND: &str = "SyncObsState";

/// How a device server's devices can be reached from inside the server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Loopback {
    /// `-nodb` with `-ORBendPoint giop:tcp:HOST:PORT`: at HOST:PORT, keyed by device name.
    NoDb(String),
    /// Tango DB mode: the address the device exported.
    #[default]
    Database,
}

impl Loopback {
    /// From the server's command line.
    pub fn from_args(args: &[String]) -> Loopback {
        let nodb = args.iter().any(|a| a == "-nodb");
        let endpoint = args.windows(2).find(|w| w[0] == "-ORBendPoint").and_then(|w| w[1].strip_prefix("giop:tcp:"));
        match endpoint {
            Some(hp) if nodb => {
                let (host, port) = hp.rsplit_once(':').unwrap_or((hp, ""));
                let host = if host.is_empty() || host == "0.0.0.0" { "127.0.0.1" } else { host };
                Loopback::NoDb(format!("{host}:{port}"))
            }
            _ => Loopback::Database,
        }
    }

    /// Run `SyncObsState` on `device` (blocking; call from a thread that may block).
    pub fn sync(&self, device: &str) -> Result<(), String> {
        let timeout = Duration::from_secs(3);
        let (endpoint, key) = match self {
            Loopback::NoDb(hp) => (hp.clone(), object_key_for(device)),
            Loopback::Database => {
                let host = TangoHost::from_env().map_err(|e| e.to_string())?;
                let info = Database::new(host).with_timeout(timeout).import_device(device).map_err(|e| e.to_string())?;
                let ior = Ior::parse(&info.ior).map_err(|e| e.to_string())?;
                let p = ior.iiop().ok_or("no IIOP profile")?;
                let host = if p.host == "0.0.0.0" { "127.0.0.1".to_string() } else { p.host.clone() };
                (format!("{host}:{}", p.port), p.object_key.clone())
            }
        };
        let mut conn = Connection::connect(&endpoint, timeout).map_err(|e| e.to_string())?;
        conn.command_inout(&key, SYNC_COMMAND, &CmdValue::Void).map(|_| ()).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_from_args() {
        let a = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        assert_eq!(
            Loopback::from_args(&a("1 -nodb -dlist x/y/z -ORBendPoint giop:tcp:127.0.0.1:4500")),
            Loopback::NoDb("127.0.0.1:4500".into())
        );
        assert_eq!(Loopback::from_args(&a("1 -nodb -ORBendPoint giop:tcp:0.0.0.0:4500")), Loopback::NoDb("127.0.0.1:4500".into()));
        assert_eq!(Loopback::from_args(&a("1 -ORBendPoint giop:tcp:127.0.0.1:")), Loopback::Database);
    }
}
