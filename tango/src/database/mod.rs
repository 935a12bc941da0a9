//! An embedded Tango database: the device `sys/database/2` (class `DataBase`, server
//! `DataBaseds/2`) served by our own runtime under the object keys `database` and
//! `sys/database/2`, with its state in SQLite (the C++ DataBaseds' tables), one transaction per command.
//!
//! - [`store`]: the SQLite connection and transactions; the `Db*` operations on it, one
//!   module per family: [`devices`], [`aliases`], [`properties`], [`attribute_properties`],
//!   [`pipes`], [`server_info`], [`events`], [`server_cache`], [`sql`] (`DbMySqlSelect`, with [`select_cache`]), [`info`], [`timing`] (`Timing_*`), over
//!   [`args`]' checks and [`prop_table`]'s shared property-table code; [`migrate`] imports
//!   the JSON state of earlier releases,
//! - [`device`]: the `DataBase` device class over the store,
//! - [`dsconfig`]: loading dsconfig-style JSON (servers, classes, devices, properties),
//! - [`start`]: run it.

pub mod aliases;
pub mod args;
pub mod attribute_properties;
pub mod device;
pub mod devices;
pub mod dsconfig;
pub mod events;
pub mod info;
pub mod migrate;
pub mod pipes;
pub mod prop_table;
pub mod properties;
pub mod server_cache;
pub mod select_cache;
pub mod server_info;
pub mod sql;
pub mod store;
pub mod timing;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::connection::ConnLimits;
use crate::registration::ior_for;
use crate::server::{host_name, RunningServer, Server, ServerOptions};

pub use device::DataBase;
pub use store::Store;

pub const DB_DEVICE: &str = "sys/database/2";
pub const DB_SERVER_EXEC: &str = "DataBaseds";
pub const DB_SERVER_INSTANCE: &str = "2";

/// How to run the embedded database.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// Address to listen on (`127.0.0.1` by default: a laptop database is private).
    pub host: String,
    pub port: u16,
    /// Where the state file lives; `None` = in memory only.
    pub state_dir: Option<PathBuf>,
    pub verbosity: u8,
    /// The same limits as a device server's (`-ORBgiopMaxMsgSize`, `-ORBinConScanPeriod`,
    /// `-maxConnections`): every client of the control system talks to the database.
    pub limits: ConnLimits,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        DatabaseOptions { host: "127.0.0.1".into(), port: 10000, state_dir: None, verbosity: 0, limits: ConnLimits::default() }
    }
}

/// A running embedded database.
pub struct RunningDatabase {
    pub server: RunningServer,
    pub store: Arc<Mutex<Store>>,
    /// `host:port` clients put in `TANGO_HOST`.
    pub tango_host: String,
}

/// Open the state, start serving, register and export the database device itself.
pub async fn start(opts: DatabaseOptions) -> Result<RunningDatabase, String> {
    let mut store = match &opts.state_dir {
        Some(d) => Store::open(d)?,
        None => Store::in_memory(),
    };
    store.self_name = DB_DEVICE.into();
    let store = Arc::new(Mutex::new(store));
    let handle = store.clone();
    let server = Server::new(DB_SERVER_EXEC)
        .class(move |_: &str| DataBase::new(handle.clone()))
        .alias(crate::dbclient::DB_OBJECT_KEY_STR, DB_DEVICE)
        .start(ServerOptions {
            instance: DB_SERVER_INSTANCE.into(),
            nodb: true,
            dlist: vec![DB_DEVICE.into()],
            host: Some(opts.host.clone()),
            port: opts.port,
            verbosity: opts.verbosity,
            limits: opts.limits,
        })
        .await?;
    let port = server.port();
    let ior_host = match opts.host.as_str() {
        "0.0.0.0" | "::" | "" => host_name(),
        h => h.to_string(),
    };
    let tango_host = format!("{ior_host}:{port}");
    {
        let mut s = store.lock().unwrap_or_else(|p| p.into_inner());
        s.self_address = tango_host.clone();
        let server_name = format!("{DB_SERVER_EXEC}/{DB_SERVER_INSTANCE}");
        let admin = format!("dserver/{server_name}");
        s.register_self(
            &server_name,
            DB_DEVICE,
            &admin,
            &ior_for(DB_DEVICE, &ior_host, port),
            &ior_for(&admin, &ior_host, port),
            &host_name(),
        )
        .map_err(|e| format!("cannot register the database device in its own state: {e}"))?;
    }
    tracing::info!(%tango_host, state_dir = ?opts.state_dir, "Tango database {DB_DEVICE} ready: export TANGO_HOST={tango_host}");
    Ok(RunningDatabase { server, store, tango_host })
}
