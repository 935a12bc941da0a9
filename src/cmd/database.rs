//! `sdp database`: the embedded Tango database, and `sdp database load FILE`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DatabaseArgs {
    /// TCP port to serve on (clients use TANGO_HOST=<host>:<port>).
    #[arg(long, default_value_t = 10000)]
    port: u16,
    /// Address to listen on (0.0.0.0 = every interface; the exported host is then this machine's name).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Directory of the database file (tango-db.sqlite; a tango-db.json of an earlier release is migrated); without it the database lives in memory.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Log more (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Largest request accepted, in bytes (a device server's -ORBgiopMaxMsgSize); bigger ones
    /// get GIOP MessageError and their connection is closed. Default 128 MiB, minimum 1024.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1024..))]
    max_message_size: Option<u64>,
    /// Close a connection idle for this long, in seconds (a device server's
    /// -ORBinConScanPeriod; 0 = never). Default 180.
    #[arg(long, value_name = "SECONDS")]
    idle_timeout: Option<u64>,
    /// Most client connections served at once (a device server's -maxConnections); more are
    /// closed as they arrive. Default 900.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: Option<u64>,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Subcommand)]
enum Action {
    /// Register servers, devices and properties from a dsconfig-style JSON file in the
    /// database at TANGO_HOST (any Tango database: ours, PyTango's or the C++ one).
    Load {
        /// The JSON file (e.g. devices/devices.json).
        file: PathBuf,
        /// Database to load into (default: $TANGO_HOST).
        #[arg(long)]
        tango_host: Option<String>,
    },
}

pub fn run(a: DatabaseArgs) -> i32 {
    match a.action {
        Some(Action::Load { file, tango_host }) => load(&file, tango_host.as_deref()),
        None => serve(a),
    }
}

fn serve(a: DatabaseArgs) -> i32 {
    let DatabaseArgs { host, port, state_dir, verbose, .. } = a;
    // -v maps onto the Tango verbosity levels: 0 warn, 1-2 info, 3-4 debug, 5 trace
    let verbosity = match verbose {
        0 => 1, // say where we listen
        1 => 2,
        2 => 4,
        _ => 5,
    };
    tango::server::init_logging(verbosity);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    rt.block_on(async move {
        let d = tango::connection::ConnLimits::default();
        let limits = tango::connection::ConnLimits {
            max_message: a.max_message_size.map_or(d.max_message, |n| n as usize),
            idle_timeout: a.idle_timeout.map_or(d.idle_timeout, |s| (s > 0).then(|| std::time::Duration::from_secs(s))),
            max_connections: a.max_connections.map_or(d.max_connections, |n| n as usize),
        };
        let opts = tango::database::DatabaseOptions { host, port, state_dir, verbosity, limits };
        match tango::database::start(opts).await {
            Ok(db) => {
                println!("TANGO_HOST={}", db.tango_host);
                db.server.shutdown_on_signals();
                db.server.wait().await;
                0
            }
            Err(e) => {
                eprintln!("sdp database: {e}");
                1
            }
        }
    })
}

fn load(file: &std::path::Path, tango_host: Option<&str>) -> i32 {
    let fail = |msg: String| {
        eprintln!("sdp database load: {msg}");
        1
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return fail(format!("cannot read {}: {e}", file.display())),
    };
    let cfg = match tango::database::dsconfig::parse(&text) {
        Ok(c) => c,
        Err(e) => return fail(format!("{}: {e}", file.display())),
    };
    let host = match tango_host.map(tango::dbclient::TangoHost::parse).unwrap_or_else(tango::dbclient::TangoHost::from_env) {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    let db = tango::dbclient::Database::new(host.clone());
    match tango::database::dsconfig::apply(&db, &cfg) {
        Ok((devices, classes)) => {
            println!("loaded {devices} device(s) and properties of {classes} class(es) from {} into TANGO_HOST={host}", file.display());
            0
        }
        Err(e) => fail(format!("loading {} into TANGO_HOST={host} failed: {e}", file.display())),
    }
}
