//! The server runtime: command line, one TCP listener, graceful shutdown. Each connection is
//! served on its own thread by [`connection`](crate::connection), the only other module that
//! touches client sockets; the protocol work happens in [`giop`](crate::giop) and
//! [`dispatch`](crate::dispatch).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::admin::{admin_device, AdminServices, ServerControl};
use crate::connection::{ConnLimits, Connections};
use crate::device::Device;
use crate::dispatch::{Dispatcher, ServerIdentity};
use crate::events::{EventHub, TopicNaming};
use crate::handle::DeviceHandle;
use crate::object::{DeviceCell, DeviceObject, HandleFactory};
use crate::polling::Poller;
use crate::registration::{self, DeviceContext};

/// Default limit on one GIOP message (after fragment reassembly): cppTango's own default
/// `MAX_TRANSFER_SIZE` is 256 MiB; we take 128 MiB.
pub const DEFAULT_MAX_MESSAGE: usize = 128 << 20;

/// Default idle-connection timeout: omniORB's `inConScanPeriod` default. Tango clients keep a
/// connection per server open for as long as the proxy lives and reconnect transparently after
/// an orderly CloseConnection, so closing idle connections costs them nothing and stops a client
/// that opens connections and sends nothing from holding descriptors forever.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(180);

/// Default limit on open client connections, well below the usual 1024-descriptor soft limit
/// minus what the event sockets, the database client and etcd need.
pub const DEFAULT_MAX_CONNECTIONS: usize = 900;

/// How a server was asked to run (the standard Tango server command line).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServerOptions {
    pub instance: String,
    pub nodb: bool,
    pub dlist: Vec<String>,
    /// Address to listen on; `None` = all interfaces.
    pub host: Option<String>,
    /// 0 = any free port.
    pub port: u16,
    pub verbosity: u8,
    /// `-ORBgiopMaxMsgSize`, `-ORBinConScanPeriod`, `-maxConnections`.
    pub limits: ConnLimits,
}

pub const USAGE: &str = "usage: <exec> <instance> [-v[N]] [-nodb -dlist dev1,dev2,...] [-ORBendPoint giop:tcp:<host>:<port>] [-port N] [-host H] [-ORBgiopMaxMsgSize BYTES] [-ORBinConScanPeriod SECONDS] [-maxConnections N]";

impl ServerOptions {
    /// Parse `<instance> [options]` (the arguments after the executable name).
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<ServerOptions, String> {
        let mut o = ServerOptions::default();
        let mut it = args.into_iter().peekable();
        let mut instance = None;
        while let Some(a) = it.next() {
            let mut value = |flag: &str| it.next().ok_or_else(|| format!("{flag} needs a value"));
            match a.as_str() {
                "-nodb" => o.nodb = true,
                "-dlist" => o.dlist = value("-dlist")?.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
                "-ORBendPoint" => {
                    let ep = value("-ORBendPoint")?;
                    let rest = ep
                        .strip_prefix("giop:tcp:")
                        .ok_or_else(|| format!("unsupported endpoint {ep:?}: expected giop:tcp:<host>:<port>"))?;
                    let (h, p) = rest.rsplit_once(':').ok_or_else(|| format!("endpoint {ep:?} has no port"))?;
                    o.host = (!h.is_empty()).then(|| h.trim_matches(|c| c == '[' || c == ']').to_string());
                    o.port = if p.is_empty() { 0 } else { p.parse().map_err(|_| format!("invalid port in endpoint {ep:?}"))? };
                }
                "-port" => o.port = value("-port")?.parse().map_err(|_| "invalid -port value".to_string())?,
                "-host" => o.host = Some(value("-host")?),
                // omniORB's option name, so existing start scripts keep working
                "-ORBgiopMaxMsgSize" => {
                    o.limits.max_message =
                        value("-ORBgiopMaxMsgSize")?.parse().map_err(|_| "invalid -ORBgiopMaxMsgSize value".to_string())?;
                    if o.limits.max_message < 1024 {
                        return Err("-ORBgiopMaxMsgSize must be at least 1024 bytes".into());
                    }
                }
                // omniORB's name and meaning: seconds an idle incoming connection is kept; 0 = forever
                "-ORBinConScanPeriod" => {
                    let secs: u64 = value("-ORBinConScanPeriod")?.parse().map_err(|_| {
                        "invalid -ORBinConScanPeriod value: expected whole seconds (0 = never close idle connections)".to_string()
                    })?;
                    o.limits.idle_timeout = (secs > 0).then(|| Duration::from_secs(secs));
                }
                "-maxConnections" => {
                    o.limits.max_connections =
                        value("-maxConnections")?.parse().map_err(|_| "invalid -maxConnections value".to_string())?;
                    if o.limits.max_connections == 0 {
                        return Err("-maxConnections must be at least 1".into());
                    }
                }
                v if v.starts_with("-v") => {
                    o.verbosity = if v.len() == 2 { 4 } else { v[2..].parse().map_err(|_| format!("invalid verbosity {v:?}"))? }
                }
                "-h" | "-?" | "--help" => return Err(USAGE.into()),
                v if v.starts_with('-') => return Err(format!("unknown option {v:?}; {USAGE}")),
                v => {
                    if instance.replace(v.to_string()).is_some() {
                        return Err(format!("unexpected argument {v:?}; {USAGE}"));
                    }
                }
            }
        }
        o.instance = instance.ok_or_else(|| format!("missing instance name; {USAGE}"))?;
        if !o.dlist.is_empty() && !o.nodb {
            return Err("-dlist is only valid with -nodb".into());
        }
        for d in &o.dlist {
            if d.split('/').count() != 3 || d.split('/').any(str::is_empty) {
                return Err(format!("invalid device name {d:?}: expected domain/family/member"));
            }
        }
        Ok(o)
    }
}

/// Builds a device object from its context; with a database, `Init` re-reads the properties.
type MakeObject = Box<dyn Fn(&DeviceContext, Option<Arc<crate::dbclient::Database>>) -> Arc<dyn DeviceObject> + Send + Sync>;

struct ClassReg {
    name: String,
    /// What the admin device tells of the class (`QueryClass`, the wizards).
    info: crate::services::ClassInfo,
    /// The class's attribute names (their database properties are read at start).
    attrs: Vec<String>,
    make: MakeObject,
}

/// Declares what a server executable hosts.
pub struct Server {
    exec: String,
    classes: Vec<ClassReg>,
    /// Extra object keys served by a device: (key, device name).
    aliases: Vec<(String, String)>,
}

impl Server {
    /// `exec` is the executable name (first part of the server name `exec/instance`).
    pub fn new(exec: &str) -> Server {
        Server { exec: exec.into(), classes: Vec::new(), aliases: Vec::new() }
    }

    /// Host devices of type `D`, built by `factory` from their name.
    pub fn class<D: Device>(self, factory: impl Fn(&str) -> D + Send + Sync + 'static) -> Self {
        self.class_with(move |ctx: &DeviceContext| factory(&ctx.name))
    }

    /// Host devices of type `D`, built by `factory` from their context: name, class and the
    /// properties the database holds for them (empty with `-nodb`). `Init` rebuilds the device
    /// with its properties read again from the database, as cppTango devices do.
    pub fn class_with<D: Device>(self, factory: impl Fn(&DeviceContext) -> D + Send + Sync + 'static) -> Self {
        self.class_with_handle(move |ctx: &DeviceContext, _: DeviceHandle<D>| factory(ctx))
    }

    /// [`Server::class_with`], the factory also getting the [`DeviceHandle`] of the device
    /// it builds: what the device's background work (a thread, a tokio task) changes the
    /// device and publishes its events with. Each instance `Init` builds gets a new handle.
    pub fn class_with_handle<D: Device>(mut self, factory: impl Fn(&DeviceContext, DeviceHandle<D>) -> D + Send + Sync + 'static) -> Self {
        let class = Arc::new(D::class());
        let name = class.name().to_string();
        let attrs = class.attributes.iter().map(|a| a.info.name.clone()).collect();
        let factory = Arc::new(factory);
        let info = crate::services::ClassInfo {
            name: name.clone(),
            device_properties: class.device_properties.clone(),
            class_properties: class.class_properties.clone(),
        };
        self.classes.push(ClassReg {
            name,
            info,
            attrs,
            make: Box::new(move |ctx: &DeviceContext, db: Option<Arc<crate::dbclient::Database>>| {
                let (current, factory) = (std::sync::Mutex::new(ctx.clone()), factory.clone());
                let db_for_services = db.clone();
                let first = std::sync::atomic::AtomicBool::new(true);
                let per_device: HandleFactory<D> = Arc::new(move |_: &str, handle: DeviceHandle<D>| {
                    let mut cur = current.lock().unwrap_or_else(|p| p.into_inner());
                    // The first call is the construction (properties just read); later ones are Init.
                    if !first.swap(false, std::sync::atomic::Ordering::SeqCst) {
                        if let Some(db) = &db {
                            match registration::reload_properties(db, &cur) {
                                Ok(fresh) => *cur = fresh,
                                Err(e) => tracing::warn!(device = %cur.name, "Init: cannot re-read properties from the Tango database ({e}); keeping the previous ones"),
                            }
                        }
                    }
                    factory(&cur, handle)
                });
                let cell = DeviceCell::shared(&ctx.name, class.clone(), per_device, |cell| {
                    cell.with_runtime_properties(ctx).with_attribute_properties(ctx.attr_properties.clone())
                });
                cell.services().connect(db_for_services);
                cell as Arc<dyn DeviceObject>
            }),
        });
        self
    }

    /// Also serve `device` under the object key `key` (e.g. the database device under
    /// `database`, the key clients use in `corbaloc:iiop:host:port/database`).
    pub fn alias(mut self, key: &str, device: &str) -> Self {
        self.aliases.push((key.into(), device.into()));
        self
    }

    /// Parse the process command line, set up logging, run until SIGINT/SIGTERM or Kill.
    /// Exits the process with status 2 on a bad command line.
    pub fn run_from_args(self) -> ! {
        self.run_with_args(std::env::args().skip(1).collect())
    }

    /// [`Server::run_from_args`] with the arguments given (after the executable name), for
    /// executables that take options of their own out first.
    pub fn run_with_args(self, args: Vec<String>) -> ! {
        self.run_with_args_then(args, |_, _| None)
    }

    /// [`Server::run_with_args`], calling `started` (inside the runtime) once the server
    /// serves, with the running server and its instance name. What `started` returns, if
    /// anything, runs (on a blocking thread) after the server has stopped: for services that
    /// live beside the server, e.g. an announcement elsewhere to withdraw.
    pub fn run_with_args_then(
        self,
        args: Vec<String>,
        started: impl FnOnce(&RunningServer, &str) -> Option<Box<dyn FnOnce() + Send>>,
    ) -> ! {
        let opts = match ServerOptions::parse(args) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("{}: {e}", self.exec);
                std::process::exit(2);
            }
        };
        init_logging(opts.verbosity);
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
        let code = rt.block_on(async move {
            let instance = opts.instance.clone();
            match self.start(opts).await {
                Ok(running) => {
                    running.shutdown_on_signals();
                    let after = started(&running, &instance);
                    running.wait().await;
                    if let Some(after) = after {
                        let _ = tokio::task::spawn_blocking(after).await;
                    }
                    0
                }
                Err(e) => {
                    eprintln!("{e}");
                    1
                }
            }
        });
        std::process::exit(code)
    }

    /// Bind and start serving; returns once the listener is up.
    pub async fn start(self, opts: ServerOptions) -> Result<RunningServer, String> {
        if self.classes.is_empty() {
            return Err("no device class registered".into());
        }
        if opts.nodb && opts.dlist.is_empty() {
            return Err(format!("{}: -nodb needs -dlist <domain/family/member,...>", self.exec));
        }
        // Database mode: TANGO_HOST names the database (checked before anything is bound).
        let db = if opts.nodb {
            None
        } else {
            let host =
                crate::dbclient::TangoHost::from_env().map_err(|e| format!("{}: {e}; or start with -nodb -dlist <devices>", self.exec))?;
            Some(Arc::new(crate::dbclient::Database::new(host)))
        };
        let bind_host = opts.host.clone().unwrap_or_else(|| "0.0.0.0".into());
        let listener = TcpListener::bind((bind_host.as_str(), opts.port))
            .await
            .map_err(|e| format!("{}: cannot listen on {bind_host}:{}: {e}", self.exec, opts.port))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let identity = ServerIdentity {
            exec: self.exec.clone(),
            instance: opts.instance.clone(),
            host: host_name(),
            tango_host: db.as_ref().map(|d| d.tango_host().to_string()),
        };

        let contexts: Vec<DeviceContext> = match &db {
            // With -dlist, every listed device belongs to the first class (as in cppTango).
            None => opts.dlist.iter().map(|d| DeviceContext::new(d, &self.classes[0].name)).collect(),
            Some(db) => {
                let classes: Vec<String> = self.classes.iter().map(|c| c.name.clone()).collect();
                let with_attrs: Vec<(String, Vec<String>)> = self.classes.iter().map(|c| (c.name.clone(), c.attrs.clone())).collect();
                let v = registration::learn_devices(db.clone(), &identity.server_id(), &with_attrs).await?;
                if v.is_empty() {
                    tracing::warn!(
                        "no device of server {} is defined in the Tango database (classes {classes:?}): only the admin device runs; \
                         register devices with DbAddDevice (tango.Database().add_device) or `sdp database load`",
                        identity.server_id()
                    );
                }
                v
            }
        };
        let devices: Vec<Arc<dyn DeviceObject>> = contexts
            .iter()
            .map(|ctx| {
                let class = self.classes.iter().find(|c| c.name == ctx.class).expect("contexts come from the registered classes");
                (class.make)(ctx, db.clone())
            })
            .collect();
        let device_names: Vec<String> = contexts.iter().map(|c| c.name.clone()).collect();
        let (stop_tx, stop_rx) = watch::channel(false);
        let control = Arc::new(Stopper(stop_tx.clone()));
        let events = start_events(&identity, &opts, addr, &devices)?;
        let poller = Poller::new();
        let admin = admin_device(
            &identity.admin_name(),
            devices.clone(),
            control.clone(),
            Some(events),
            AdminServices { poller: poller.clone(), db: db.clone(), classes: self.classes.iter().map(|c| c.info.clone()).collect() },
        );
        admin.services().connect(db.clone());
        let mut objects = devices.clone();
        objects.push(admin);
        poller.set_devices(objects.clone());
        let mut dispatcher = Dispatcher::new(identity.clone(), objects);
        for (key, device) in &self.aliases {
            dispatcher.add_alias(key, device);
        }
        let dispatcher = Arc::new(dispatcher);
        let limits = opts.limits;
        if let Some(db) = &db {
            // The host clients will connect to: the endpoint's host, or this machine's name
            // when listening on every interface.
            let ior_host = match opts.host.as_deref() {
                None | Some("0.0.0.0") | Some("::") | Some("") => host_name(),
                Some(h) => h.to_string(),
            };
            let mut names = device_names.clone();
            names.push(identity.admin_name());
            registration::export_all(db.clone(), names, ior_host.clone(), addr.port(), host_name()).await?;
            tracing::info!(
                server = %identity.server_id(),
                address = %addr,
                devices = ?device_names,
                "ready: exported to the Tango database at TANGO_HOST={} as {ior_host}:{}",
                db.tango_host(),
                addr.port()
            );
        } else {
            tracing::info!(
                server = %identity.server_id(),
                address = %addr,
                devices = ?device_names,
                "ready: tango://{}:{}/{}#dbase=no",
                opts.host.as_deref().unwrap_or("127.0.0.1"),
                addr.port(),
                device_names[0]
            );
        }
        poller.spawn();
        let serve = accept_loop(listener, dispatcher.clone(), stop_rx, limits);
        let server_id = identity.server_id();
        let task = tokio::spawn(async move {
            serve.await;
            poller.shutdown();
            for d in &devices {
                d.server_stopped();
            }
            if let Some(db) = db {
                registration::unexport(db, server_id).await;
            }
        });
        Ok(RunningServer { addr, stop: stop_tx, task, dispatcher, _classes: self.classes.iter().map(|c| c.name.clone()).collect() })
    }
}

/// Bind the event sockets next to the GIOP endpoint and connect every device to them.
fn start_events(
    identity: &ServerIdentity,
    opts: &ServerOptions,
    addr: SocketAddr,
    devices: &[Arc<dyn DeviceObject>],
) -> Result<Arc<EventHub>, String> {
    let bind_host = opts.host.clone().unwrap_or_else(|| "0.0.0.0".into());
    // Clients must reach the endpoints: never advertise 0.0.0.0.
    let advertise = if bind_host == "0.0.0.0" { identity.host.clone() } else { bind_host.clone() };
    let prefix = match &identity.tango_host {
        // database mode: the TANGO_HOST the server uses (the first one of a list)
        Some(th) if !opts.nodb => format!("tango://{}/", th.split(',').next().unwrap_or(th).trim()),
        // nodb: cppTango names topics after the host name and the GIOP port
        _ => format!("tango://{}:{}/", identity.host, addr.port()),
    };
    let naming = TopicNaming { prefix, nodb: opts.nodb, admin: identity.admin_name().to_ascii_lowercase() };
    let hub = EventHub::start(naming, &bind_host, &advertise)?;
    for d in devices {
        d.attach_events(hub.clone());
    }
    Ok(hub)
}

struct Stopper(watch::Sender<bool>);

impl ServerControl for Stopper {
    fn shutdown(&self) {
        let _ = self.0.send(true);
    }
}

/// A server that is accepting connections.
pub struct RunningServer {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    pub dispatcher: Arc<Dispatcher>,
    _classes: Vec<String>,
}

impl RunningServer {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Ask the server to stop: connections get CloseConnection, the listener closes.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }

    /// Stop on SIGINT or SIGTERM.
    pub fn shutdown_on_signals(&self) {
        let stop = self.stop.clone();
        tokio::spawn(async move {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            }
            let _ = stop.send(true);
        });
    }

    /// Wait until the server has stopped and its connections are closed.
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

async fn accept_loop(listener: TcpListener, dispatcher: Arc<Dispatcher>, mut stop: watch::Receiver<bool>, limits: ConnLimits) {
    let conns = Arc::new(Connections::default());
    // Refusals are logged once per burst, not once per connection: a client in a reconnect loop
    // must not fill the log.
    let mut refused_since_log = 0u64;
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((sock, peer)) => {
                    let accepted = sock.into_std().and_then(|s| s.set_nonblocking(false).map(|_| s));
                    let served = match accepted {
                        Ok(s) => conns.serve(s, peer, dispatcher.clone(), limits),
                        Err(e) => {
                            tracing::warn!(%peer, error = %e, "cannot use the new connection");
                            continue;
                        }
                    };
                    if served {
                        refused_since_log = 0;
                    } else {
                        // Closed at once: the client learns now instead of hanging in the
                        // kernel's backlog until its own timeout.
                        refused_since_log += 1;
                        if refused_since_log == 1 || refused_since_log.is_power_of_two() {
                            tracing::warn!(%peer, limit = limits.max_connections, refused = refused_since_log,
                                "connection limit reached (-maxConnections): closing new connections");
                        }
                    }
                }
                Err(e) => {
                    // EMFILE and friends: back off rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    // CloseConnection to every client, and a moment for their threads to finish.
    let _ = tokio::task::spawn_blocking(move || conns.close_all(Duration::from_secs(2))).await;
    tracing::info!("server stopped");
}

/// This machine's host name, as cppTango reports it in `info()`.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// `-v` levels: none = warnings, 1-2 = info, 3-4 = debug, 5 = trace. `RUST_LOG` overrides.
pub fn init_logging(verbosity: u8) {
    use tracing_subscriber::EnvFilter;
    let level = match verbosity {
        0 => "warn",
        1 | 2 => "info",
        3 | 4 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ServerOptions, String> {
        ServerOptions::parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn standard_command_lines() {
        let o = parse("test -nodb -dlist a/b/c,d/e/f -ORBendPoint giop:tcp:127.0.0.1:45450 -v4").unwrap();
        assert_eq!(o.instance, "test");
        assert!(o.nodb);
        assert_eq!(o.dlist, vec!["a/b/c", "d/e/f"]);
        assert_eq!((o.host.as_deref(), o.port, o.verbosity), (Some("127.0.0.1"), 45450, 4));
        let o = parse("1 -nodb -dlist a/b/c -port 1234").unwrap();
        assert_eq!((o.host, o.port), (None, 1234));
        let o = parse("1 -nodb -dlist a/b/c -ORBendPoint giop:tcp:127.0.0.1:").unwrap();
        assert_eq!(o.port, 0);
        assert_eq!((o.limits.idle_timeout, o.limits.max_connections), (Some(DEFAULT_IDLE_TIMEOUT), DEFAULT_MAX_CONNECTIONS));
        let o = parse("1 -nodb -dlist a/b/c -ORBinConScanPeriod 30 -maxConnections 64").unwrap();
        assert_eq!((o.limits.idle_timeout, o.limits.max_connections), (Some(Duration::from_secs(30)), 64));
        assert_eq!(parse("1 -nodb -dlist a/b/c -ORBinConScanPeriod 0").unwrap().limits.idle_timeout, None);
    }

    #[test]
    fn bad_command_lines_say_why() {
        assert!(parse("").unwrap_err().contains("missing instance"));
        assert!(parse("x -bogus").unwrap_err().contains("unknown option"));
        assert!(parse("x -nodb -dlist a/b").unwrap_err().contains("invalid device name"));
        assert!(parse("x -dlist a/b/c").unwrap_err().contains("only valid with -nodb"));
        assert!(parse("x -ORBendPoint giop:udp:h:1").unwrap_err().contains("unsupported endpoint"));
        assert!(parse("x -port").unwrap_err().contains("needs a value"));
        assert!(parse("x -ORBinConScanPeriod soon").unwrap_err().contains("whole seconds"));
        assert!(parse("x -maxConnections 0").unwrap_err().contains("at least 1"));
    }
}
