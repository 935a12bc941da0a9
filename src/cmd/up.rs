//! `sdp up`: the whole system on one machine, as child processes of this one.
//!
//! In order, each waited for until it answers: the embedded Tango database, etcd (data in the
//! state dir), the registration of the device servers, `SDPMaster/1` and `SDPSubarray/1..N`
//! (exported in the database, answering a ping, and alive in the configuration database), the
//! processing controller and the local-process deployer (their alive keys in the configuration
//! database: see `sdp_config::alive`; a process that merely runs is not yet one that works).
//! Ctrl-C or SIGTERM stops them in reverse order (SIGTERM, then SIGKILL after a grace period),
//! so device servers unexport themselves and no process is left behind. The state dir keeps
//! the Tango registrations and etcd's data, so a second `sdp up` resumes.
//!
//! A component that exits on its own (a crash, a SIGKILL) is started again with the same
//! command, its log appended to: each one resumes from the state it keeps (the Tango database
//! from its state file, etcd from its data dir, devices from etcd, the deployer adopts its
//! processes), and the others ride out its absence — a device server does not need its
//! database while it runs. Only one that keeps failing (5 exits within a minute) makes
//! `sdp up` stop everything and exit with an error.
//!
//! Nothing outlives `sdp up`. What it prints also goes to `<state dir>/logs/up.log`, and a
//! closed stdout (the `tee` of `make run | tee` ended by the same Ctrl-C) only stops the
//! printing, not the supervisor. Each child gets SIGTERM from the kernel when `sdp up` ends,
//! even by SIGKILL (`PR_SET_PDEATHSIG`), and stops as it does on Ctrl-C: device servers
//! unexport, the deployer stops its processes (`--stop-on-exit`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Where the Tango database, etcd and the process deployer keep their state, and where
    /// the components' logs go.
    #[arg(long, default_value = ".sdp")]
    state_dir: PathBuf,
    /// Address of the embedded Tango database (what clients put in TANGO_HOST).
    #[arg(long, default_value = "127.0.0.1:10000")]
    tango_host: String,
    /// Configuration database: `etcd` (start Debian's etcd with its data in the state dir),
    /// or HOST:PORT of an etcd that already runs.
    #[arg(long, default_value = "etcd")]
    config: String,
    /// Client port of the etcd we start (0: any free port). With several members: the first
    /// member's; the others follow it, then the peer ports.
    #[arg(long, default_value_t = 2379)]
    etcd_port: u16,
    /// Members of the etcd we start: 1, or 3 or 5 for a cluster on loopback (each with its own
    /// data dir and ports) whose every member the components are given, so that any one of
    /// them (two of five) can die.
    #[arg(long, default_value_t = 1)]
    etcd_members: usize,
    /// Number of SDPSubarray devices (mid_sdp/elt/subarray_1..N; with --interface adr8
    /// mid-sdp/subarray/01..NN).
    #[arg(long, default_value_t = 1)]
    subarrays: u32,
    /// Interface profile of the devices: 2019 (SDPMaster mid_sdp/elt/master, subarrays
    /// mid_sdp/elt/subarray_N, subarray 0.5.19), or adr8 (what a current TMC drives: controller
    /// mid-sdp/control/0, subarrays mid-sdp/subarray/NN, ADR-8 obsState, execution blocks). Set
    /// on every device as the property InterfaceProfile.
    #[arg(long, default_value = "2019", value_parser = ["2019", "adr8"])]
    interface: String,
    /// Seconds a component gets between SIGTERM and SIGKILL when stopping.
    #[arg(long, default_value_t = 5.0)]
    grace: f64,
}

/// A started component, and how to start it again.
struct Part {
    name: String,
    child: Child,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// When it was started, the latest last (within the last [`CRASH_WINDOW`]).
    starts: Vec<Instant>,
}

/// One etcd process we started, and how to start it again the same way (same ports and data).
struct EtcdMember {
    name: String,
    server: Option<sdp_config::EtcdServer>,
    options: sdp_config::EtcdServerOptions,
    starts: Vec<Instant>,
}

/// A component that exits this many times within [`CRASH_WINDOW`] is not started again.
const MAX_EXITS: usize = 5;
const CRASH_WINDOW: Duration = Duration::from_secs(60);
/// A component is not restarted sooner than this after its last start (no busy loop).
const RESTART_DELAY: Duration = Duration::from_secs(1);

/// Children in start order; stopped in reverse order on drop.
struct Supervisor {
    console: Console,
    parts: Vec<Part>,
    /// The etcd we started: one member, or each member of a cluster.
    etcd: Vec<EtcdMember>,
    grace: Duration,
}

impl Supervisor {
    fn stop_all(&mut self) {
        while let Some(mut p) = self.parts.pop() {
            stop_child(&mut p.child, self.grace);
            self.console.say(&format!("stopped {}", p.name));
        }
        while let Some(m) = self.etcd.pop() {
            drop(m.server);
            self.console.say(&format!("stopped {}", m.name));
        }
    }

    fn last(&mut self) -> &mut Part {
        self.parts.last_mut().expect("a component was started")
    }

    /// Start again every component that exited on its own; an error when one keeps failing.
    fn restart_exited(&mut self, logs: &Path) -> Result<(), String> {
        for p in &mut self.parts {
            let Ok(Some(status)) = p.child.try_wait() else { continue };
            let why = format!("{} exited unexpectedly ({status})", p.name);
            throttle(&mut p.starts, &why)?;
            self.console.say(&format!("{why}; starting it again"));
            p.child = start(&p.name, &p.program, &p.args, &p.env, logs, &why)?;
            p.starts.push(Instant::now());
        }
        for m in &mut self.etcd {
            let Some(status) = m.server.as_mut().and_then(|s| s.exited()) else { continue };
            let why = format!("{} exited unexpectedly ({status})", m.name);
            throttle(&mut m.starts, &why)?;
            self.console.say(&format!("{why}; starting it again"));
            m.server = None;
            m.server = Some(sdp_config::EtcdServer::start_with(&m.options).map_err(|e| format!("{why}; cannot start it again: {e}"))?);
            m.starts.push(Instant::now());
        }
        Ok(())
    }
}

/// Before a restart: give up on a component that exited [`MAX_EXITS`] times within
/// [`CRASH_WINDOW`], and wait until [`RESTART_DELAY`] has passed since its last start.
fn throttle(starts: &mut Vec<Instant>, why: &str) -> Result<(), String> {
    starts.retain(|t| t.elapsed() < CRASH_WINDOW);
    if starts.len() >= MAX_EXITS {
        return Err(format!("{why}, {MAX_EXITS} times within {} s: not starting it again", CRASH_WINDOW.as_secs()));
    }
    if let Some(since) = starts.last().map(Instant::elapsed) {
        std::thread::sleep(RESTART_DELAY.saturating_sub(since));
    }
    Ok(())
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop_all();
    }
}

fn stop_child(child: &mut Child, grace: Duration) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    // SAFETY: kill(2) on a pid we own (our child, not yet reaped) with a valid signal.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let t0 = Instant::now();
    while t0.elapsed() < grace {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A sibling binary (same directory as `sdp`), else one on PATH.
fn binary(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(name)))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn spawn(name: &str, program: &Path, args: &[String], env: &[(String, String)], logs: &Path) -> Result<Part, String> {
    let path = logs.join(format!("{}.log", name.replace('/', "-")));
    std::fs::File::create(&path).map_err(|e| format!("cannot create the log of {name}: {e}"))?;
    let child = start(name, program, args, env, logs, "")?;
    Ok(Part {
        name: name.to_string(),
        child,
        program: program.to_path_buf(),
        args: args.to_vec(),
        env: env.to_vec(),
        starts: vec![Instant::now()],
    })
}

/// Start a component, its output appended to its log (after a line saying why, on a restart).
fn start(name: &str, program: &Path, args: &[String], env: &[(String, String)], logs: &Path, why: &str) -> Result<Child, String> {
    use std::io::Write;
    let path = logs.join(format!("{}.log", name.replace('/', "-")));
    let mut log =
        std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(|e| format!("cannot open the log of {name}: {e}"))?;
    if !why.is_empty() {
        let _ = writeln!(log, "--- sdp up: {why}; starting it again ---");
    }
    let mut cmd = Command::new(program);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log);
    // Own process group: a Ctrl-C in the terminal reaches `sdp up` only, which then stops
    // the components in order.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    // If `sdp up` dies (SIGKILL included), the child is told to stop as on Ctrl-C. Children
    // are spawned from the main thread only, which lives as long as `sdp up`.
    sdp_config::server::end_with_parent(&mut cmd, libc::SIGTERM);
    cmd.spawn().map_err(|e| format!("cannot start {name} ({}): {e}", program.display()))
}

/// Where `sdp up` reports: stdout while it can be written, and always `logs/up.log`.
struct Console {
    log: Option<std::fs::File>,
    stdout_gone: std::cell::Cell<bool>,
}

impl Console {
    fn new(logs: &Path) -> Console {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(logs.join("up.log")).ok();
        Console { log, stdout_gone: std::cell::Cell::new(false) }
    }

    /// One line out. Errors are ignored on purpose: `println!` panics on a closed pipe,
    /// and a supervisor that dies of its own output leaves every component running.
    fn say(&self, line: &str) {
        use std::io::Write;
        if let Some(mut f) = self.log.as_ref() {
            let _ = writeln!(f, "{line}");
        }
        if !self.stdout_gone.get() {
            let mut out = std::io::stdout().lock();
            if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                self.stdout_gone.set(true);
            }
        }
    }

    fn ready(&self, what: &str, addr: &str, t0: Instant) {
        self.say(&format!("{what:<28} {addr:<34} ready in {:.2} s", t0.elapsed().as_secs_f64()));
    }
}

/// Wait until `check` succeeds, the child dies, or `limit` passes.
fn wait_until(part: &mut Part, limit: Duration, mut check: impl FnMut() -> Result<(), String>) -> Result<(), String> {
    let t0 = Instant::now();
    let mut last = String::new();
    while t0.elapsed() < limit {
        if let Ok(Some(s)) = part.child.try_wait() {
            return Err(format!("{} exited ({s}) before it was ready", part.name));
        }
        match check() {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("{} not ready after {} s: {last}", part.name, limit.as_secs()))
}

/// The members of the loopback cluster `--etcd-members N` asks for. Their ports are kept in
/// `<state>/etcd-<N>/ports.json` on the first start and reused after: each member's data
/// records the others' peer URLs, so a cluster cannot move. The first time, client ports are
/// `etcd_port`, `etcd_port + 1`, ... and peer ports follow them (free ones for port 0).
fn cluster_options(state: &Path, n: usize, etcd_port: u16) -> Result<Vec<sdp_config::EtcdServerOptions>, String> {
    if !(n == 3 || n == 5) {
        return Err(format!("--etcd-members must be 1, 3 or 5 (a cluster survives the loss of a minority), not {n}"));
    }
    let dir = state.join(format!("etcd-{n}"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let file = dir.join("ports.json");
    let (clients, peers): (Vec<u16>, Vec<u16>) = match std::fs::read_to_string(&file) {
        Ok(text) => {
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
            let ports = |k: &str| -> Result<Vec<u16>, String> {
                v[k].as_array()
                    .filter(|a| a.len() == n)
                    .and_then(|a| a.iter().map(|p| p.as_u64().and_then(|p| u16::try_from(p).ok())).collect())
                    .ok_or_else(|| format!("{}: {k} must be {n} port numbers", file.display()))
            };
            (ports("client_ports")?, ports("peer_ports")?)
        }
        Err(_) => {
            let free =
                || std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).map_err(|e| e.to_string());
            let all: Vec<u16> = if etcd_port == 0 {
                (0..2 * n).map(|_| free()).collect::<Result<_, _>>()?
            } else {
                (0..2 * n as u16)
                    .map(|i| etcd_port.checked_add(i).ok_or("--etcd-port too high for the cluster's ports"))
                    .collect::<Result<_, _>>()?
            };
            let (c, p) = all.split_at(n);
            let json = serde_json::json!({"client_ports": c, "peer_ports": p});
            std::fs::write(&file, json.to_string()).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
            (c.to_vec(), p.to_vec())
        }
    };
    let mut members = sdp_config::EtcdCluster::member_options(n, Some(&dir), Some(&clients), Some(&peers)).map_err(|e| e.to_string())?;
    for m in &mut members {
        m.end_with_parent = true;
    }
    Ok(members)
}

/// Reads components' alive keys (`sdp_config::alive`) from the configuration database.
struct AliveCheck {
    rt: tokio::runtime::Runtime,
    options: sdp_config::EtcdOptions,
    config: std::cell::RefCell<Option<sdp_config::Config>>,
}

impl AliveCheck {
    /// `host` may be a list of members (`SDP_CONFIG_HOST`'s form).
    fn new(host: &str, port: u16) -> Result<AliveCheck, String> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| format!("tokio runtime: {e}"))?;
        let options = sdp_config::EtcdOptions { host: host.to_string(), port, timeout: Duration::from_secs(2), ..Default::default() };
        Ok(AliveCheck { rt, options, config: Default::default() })
    }

    /// Ok once `/component/<name>/alive` exists.
    fn check(&self, name: &str) -> Result<(), String> {
        let mut slot = self.config.borrow_mut();
        if slot.is_none() {
            let backend = self.rt.block_on(sdp_config::BackendChoice::Etcd(self.options.clone()).connect()).map_err(|e| e.to_string())?;
            *slot = Some(sdp_config::Config::new(backend));
        }
        let config = slot.as_ref().expect("connected above");
        let alive = self.rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(3), async {
                let mut txn = config.txn();
                let alive = txn.is_alive(name).await?;
                txn.commit().await?;
                Ok::<_, sdp_config::Error>(alive)
            })
            .await
            .map_err(|_| "the configuration database did not answer within 3 s".to_string())?
            .map_err(|e| e.to_string())
        })?;
        if alive {
            Ok(())
        } else {
            Err(format!("no /component/{name}/alive yet"))
        }
    }
}

/// The device servers `sdp up` starts: (executable, instance, class, device), per profile.
fn devices(subarrays: u32, interface: &str) -> Vec<(&'static str, String, &'static str, String)> {
    let adr8 = interface == "adr8";
    let mut v = vec![if adr8 {
        ("SDPMaster", "1".to_string(), "SDPController", "mid-sdp/control/0".to_string())
    } else {
        ("SDPMaster", "1".to_string(), "SDPMaster", "mid_sdp/elt/master".to_string())
    }];
    for i in 1..=subarrays {
        let device = if adr8 { format!("mid-sdp/subarray/{i:02}") } else { format!("mid_sdp/elt/subarray_{i}") };
        v.push(("SDPSubarray", i.to_string(), "SDPSubarray", device));
    }
    v
}

/// The dsconfig JSON registering the project's device servers (the ADR-8 profile's with the
/// property InterfaceProfile).
fn registrations(subarrays: u32, interface: &str) -> String {
    if interface == "adr8" {
        let mut servers = serde_json::Map::new();
        for (exec, inst, class, device) in devices(subarrays, interface) {
            let entry = servers.entry(exec).or_insert_with(|| serde_json::json!({}));
            entry[inst] = serde_json::json!({class: {device: {"properties": {"InterfaceProfile": ["adr8"]}}}});
        }
        return serde_json::json!({"servers": servers}).to_string();
    }
    let mut servers = serde_json::Map::new();
    servers.insert("SDPMaster".into(), serde_json::json!({"1": {"SDPMaster": {"mid_sdp/elt/master": {}}}}));
    let mut sub = serde_json::Map::new();
    for i in 1..=subarrays {
        sub.insert(i.to_string(), serde_json::json!({"SDPSubarray": {format!("mid_sdp/elt/subarray_{i}"): {}}}));
    }
    servers.insert("SDPSubarray".into(), serde_json::Value::Object(sub));
    serde_json::json!({"servers": servers}).to_string()
}

/// Is `device` exported by a process that answers a ping?
fn device_answers(db: &tango::dbclient::Database, device: &str) -> Result<(), String> {
    let info = db.import_device(device).map_err(|e| e.to_string())?;
    if !info.exported {
        return Err(format!("{device} not exported yet"));
    }
    let ior = tango::ior::Ior::parse(&info.ior).map_err(|e| e.to_string())?;
    let p = ior.iiop().ok_or("IOR without an IIOP profile")?;
    let mut c = tango::client::Connection::connect(&format!("{}:{}", p.host, p.port), Duration::from_secs(2)).map_err(|e| e.to_string())?;
    let r = c.invoke(&p.object_key, "ping", |_| {}).map_err(|e| e.to_string())?;
    tango::client::check_reply(&r).map_err(|e| e.to_string())
}

pub fn run(a: UpArgs) -> i32 {
    match up(a) {
        Ok(()) => 0,
        Err(e) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "sdp up: {e}");
            1
        }
    }
}

fn up(a: UpArgs) -> Result<(), String> {
    let state = &a.state_dir;
    let logs = state.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
    let (tango_bind, tango_port) = a
        .tango_host
        .rsplit_once(':')
        .and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h.to_string(), p)))
        .ok_or_else(|| format!("--tango-host must be HOST:PORT, not {:?}", a.tango_host))?;
    if a.subarrays == 0 || a.subarrays > 16 {
        return Err(format!("--subarrays must be 1..16, not {}", a.subarrays));
    }

    // Signals: set a flag; the supervision loop stops everything in order.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let stop = stop.clone();
        // SAFETY: the handler only stores to an atomic (async-signal-safe).
        unsafe { signal_hook_registry::register(sig, move || stop.store(true, std::sync::atomic::Ordering::SeqCst)) }
            .map_err(|e| format!("cannot install the signal handler: {e}"))?;
    }

    let mut sup =
        Supervisor { console: Console::new(&logs), parts: Vec::new(), etcd: Vec::new(), grace: Duration::from_secs_f64(a.grace.max(0.1)) };
    let sdp = binary("sdp");

    // 1. Tango database
    let t0 = Instant::now();
    let host = tango::dbclient::TangoHost::parse(&a.tango_host)?;
    let db = tango::dbclient::Database::new(host).with_timeout(Duration::from_secs(2));
    sup.parts.push(spawn(
        "tango-database",
        &sdp,
        &[
            "database".into(),
            "--host".into(),
            tango_bind.clone(),
            "--port".into(),
            tango_port.to_string(),
            "--state-dir".into(),
            state.join("tango").display().to_string(),
        ],
        &[],
        &logs,
    )?);
    wait_until(sup.last(), Duration::from_secs(20), || {
        db.command("DbInfo", tango::any::CmdValue::Void).map(|_| ()).map_err(|e| e.to_string())
    })?;
    sup.console.ready("Tango database", &format!("TANGO_HOST={}", a.tango_host), t0);

    // 2. etcd
    let t0 = Instant::now();
    if a.config != "etcd" && a.etcd_members != 1 {
        return Err(format!("--etcd-members is for the etcd sdp up starts, not for --config {}", a.config));
    }
    let (config_host, config_port) = if a.config == "etcd" && a.etcd_members == 1 {
        let opts = sdp_config::EtcdServerOptions {
            data_dir: Some(state.join("etcd")),
            client_port: if a.etcd_port == 0 { None } else { Some(a.etcd_port) },
            end_with_parent: true,
            ..Default::default()
        };
        let etcd = sdp_config::EtcdServer::start_with(&opts).map_err(|e| format!("etcd: {e}"))?;
        let port = etcd.port();
        // a restart must come back on the same port (the components are configured with it)
        let options = sdp_config::EtcdServerOptions { client_port: Some(port), ..opts };
        sup.etcd.push(EtcdMember { name: "etcd".into(), server: Some(etcd), options, starts: vec![Instant::now()] });
        ("127.0.0.1".to_string(), port)
    } else if a.config == "etcd" {
        let members = cluster_options(state, a.etcd_members, a.etcd_port)?;
        let cluster = sdp_config::EtcdCluster::start_with(&members).map_err(|e| format!("etcd cluster: {e}"))?;
        let host = cluster.endpoints();
        for (i, (server, options)) in cluster.members.into_iter().zip(members).enumerate() {
            sup.etcd.push(EtcdMember { name: format!("etcd member sdp-{i}"), server: Some(server), options, starts: vec![Instant::now()] });
        }
        let port = sup.etcd[0].options.client_port.expect("cluster members have fixed ports");
        (host, port)
    } else if a.config == "memory" {
        return Err("--config memory keeps the configuration inside one process, but the devices, controller and \
                    deployer are separate processes: use --config etcd (Debian's etcd-server) or HOST:PORT"
            .into());
    } else {
        let (h, p) = a.config.rsplit_once(':').ok_or_else(|| format!("--config must be etcd or HOST:PORT, not {:?}", a.config))?;
        let p: u16 = p.parse().map_err(|_| format!("bad port in --config {:?}", a.config))?;
        std::net::TcpStream::connect((h, p)).map_err(|e| format!("no etcd at {}: {e}", a.config))?;
        (h.to_string(), p)
    };
    // What to show: `host:port`, or every member's.
    let config_addr = if config_host.contains(',') { config_host.clone() } else { format!("{config_host}:{config_port}") };
    let etcd_what = if sup.etcd.len() > 1 { format!("etcd ({} members)", sup.etcd.len()) } else { "etcd".to_string() };
    sup.console.ready(&etcd_what, &config_addr, t0);

    // 3. registrations
    let t0 = Instant::now();
    let cfg = tango::database::dsconfig::parse(&registrations(a.subarrays, &a.interface)).map_err(|e| format!("registrations: {e}"))?;
    tango::database::dsconfig::apply(&db, &cfg).map_err(|e| format!("registering the device servers: {e}"))?;
    sup.console.ready("device registrations", &format!("SDPMaster/1, SDPSubarray/1..{} (interface {})", a.subarrays, a.interface), t0);

    let env: Vec<(String, String)> = vec![
        ("TANGO_HOST".into(), a.tango_host.clone()),
        ("SDP_CONFIG_HOST".into(), config_host.clone()),
        ("SDP_CONFIG_PORT".into(), config_port.to_string()),
        ("SDP_DEPLOY_MODE".into(), "process".into()),
        ("SDP_PROCESS_STATE_DIR".into(), state.join("processes").display().to_string()),
    ];

    // 4. device servers, ready when their device answers a ping and the server's alive key is
    //    in etcd (it announces itself once it serves and can reach the configuration DB)
    let alive = AliveCheck::new(&config_host, config_port)?;
    let endpoint = format!("giop:tcp:{tango_bind}:");
    for (exec, inst, _, device) in devices(a.subarrays, &a.interface) {
        let t0 = Instant::now();
        let name = format!("{exec}/{inst}");
        let mut args = vec![inst.clone(), "-ORBendPoint".into(), endpoint.clone()];
        if a.interface == "adr8" {
            // also on the command line: the server need not ask the Tango database for its profile
            args.extend(["--interface".to_string(), "adr8".to_string()]);
        }
        sup.parts.push(spawn(&name, &binary(exec), &args, &env, &logs)?);
        let component = format!("{exec}-{inst}");
        wait_until(sup.last(), Duration::from_secs(30), || device_answers(&db, &device).and_then(|()| alive.check(&component)))?;
        sup.console.ready(&name, &device, t0);
    }

    // 5. controller and deployer, ready when their alive keys are in place
    for (name, component, args) in [
        ("processing controller", crate::controller::COMPONENT_NAME, vec!["controller".to_string()]),
        // --stop-on-exit: Ctrl-C stops the workflows and engines with the deployer (a plain
        // deployer restart would leave them running for its successor to adopt), within
        // our own grace period (--grace: theirs, SIGTERM→SIGKILL, is 60 % of it).
        (
            "process deployer",
            crate::deployer::process::COMPONENT_NAME,
            vec![
                "deployer".into(),
                "--type".into(),
                "process".into(),
                "--state-dir".into(),
                state.join("processes").display().to_string(),
                "--stop-on-exit".into(),
                "--grace".into(),
                format!("{:.1}", sup.grace.as_secs_f64() * 0.6),
            ],
        ),
    ] {
        let t0 = Instant::now();
        let log_name = name.replace(' ', "-");
        sup.parts.push(spawn(&log_name, &sdp, &args, &env, &logs)?);
        wait_until(sup.last(), Duration::from_secs(30), || alive.check(component)).map_err(|e| {
            let log = std::fs::read_to_string(logs.join(format!("{log_name}.log"))).unwrap_or_default();
            format!("{e}; its log ends: {}", log.lines().last().unwrap_or(""))
        })?;
        sup.console.ready(name, &format!("alive in etcd {config_addr}"), t0);
    }

    let c = &sup.console;
    c.say("");
    c.say("The SDP is up. In another shell:");
    c.say(&format!("  export TANGO_HOST={}", a.tango_host));
    c.say(&format!("  export SDP_CONFIG_HOST={config_host} SDP_CONFIG_PORT={config_port}"));
    c.say(&format!("Logs: {}. Ctrl-C stops everything.", logs.display()));

    loop {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            sup.console.say("stopping");
            sup.stop_all();
            return Ok(());
        }
        if let Err(e) = sup.restart_exited(&logs) {
            sup.stop_all();
            return Err(format!("{e}; stopped everything (logs in {})", logs.display()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        up: UpArgs,
    }

    #[test]
    fn listens_on_loopback_unless_told_otherwise() {
        let a = Cli::parse_from(["sdp"]).up;
        assert_eq!(a.tango_host, "127.0.0.1:10000");
        assert_eq!(a.config, "etcd"); // an etcd we start, on 127.0.0.1 (sdp_config::EtcdServer)
        let a = Cli::parse_from(["sdp", "--tango-host", "0.0.0.0:10000"]).up;
        assert_eq!(a.tango_host, "0.0.0.0:10000");
    }

    #[test]
    fn the_adr8_profile_registers_its_devices_with_the_property() {
        let a = Cli::parse_from(["sdp"]).up;
        assert_eq!(a.interface, "2019");
        assert!(Cli::try_parse_from(["sdp", "--interface", "adr9"]).is_err());
        let v: serde_json::Value = serde_json::from_str(&registrations(2, "adr8")).unwrap();
        assert_eq!(
            v["servers"]["SDPMaster"]["1"]["SDPController"]["mid-sdp/control/0"]["properties"]["InterfaceProfile"],
            serde_json::json!(["adr8"])
        );
        assert_eq!(
            v["servers"]["SDPSubarray"]["2"]["SDPSubarray"]["mid-sdp/subarray/02"]["properties"]["InterfaceProfile"],
            serde_json::json!(["adr8"])
        );
        let v: serde_json::Value = serde_json::from_str(&registrations(1, "2019")).unwrap();
        assert_eq!(v["servers"]["SDPSubarray"]["1"]["SDPSubarray"]["mid_sdp/elt/subarray_1"], serde_json::json!({}));
    }

    #[test]
    fn a_component_is_given_up_on_after_max_exits_within_the_window() {
        let long_ago = |s: u64| Instant::now().checked_sub(Duration::from_secs(s)).unwrap();
        // exits long ago do not count
        let mut starts = vec![long_ago(120); MAX_EXITS];
        starts.push(long_ago(5));
        assert!(throttle(&mut starts, "x exited").is_ok());
        assert_eq!(starts.len(), 1);
        let mut starts = vec![long_ago(5); MAX_EXITS];
        let e = throttle(&mut starts, "x exited unexpectedly (signal: 9)").unwrap_err();
        assert_eq!(e, "x exited unexpectedly (signal: 9), 5 times within 60 s: not starting it again");
    }
}
