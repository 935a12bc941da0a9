//! Start a throwaway single-node etcd from `PATH` (Debian `etcd-server`) on
//! 127.0.0.1 with free ports and a temporary data directory. Used by the tests,
//! the benchmark and the one-machine launcher; stopped (and its data removed) on drop.

use crate::error::{Error, Result};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running etcd child process.
pub struct EtcdServer {
    child: Child,
    data_dir: PathBuf,
    client_port: u16,
    tls: bool,
    /// Remove the data directory on drop (throwaway servers only).
    remove_data: bool,
}

/// Where a (non-throwaway) etcd keeps its data and listens.
#[derive(Debug, Clone, Default)]
pub struct EtcdServerOptions {
    /// Data directory, kept after the server stops; `None`: a temporary one, removed.
    pub data_dir: Option<PathBuf>,
    /// Client port on 127.0.0.1; `None`: a free one.
    pub client_port: Option<u16>,
    /// Serve clients over TLS (`https://`) with these files.
    pub tls: Option<ServerTls>,
    /// SIGTERM etcd when the thread that started it ends (its parent died, even by
    /// SIGKILL): a supervisor's etcd must not outlive it. See [`end_with_parent`].
    pub end_with_parent: bool,
    /// Run as this member of a cluster (fixed peer port, the cluster's member list).
    pub member: Option<ClusterMember>,
}

/// One member of an etcd cluster on loopback (see [`EtcdCluster`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMember {
    /// `--name`, unique in the cluster.
    pub name: String,
    pub peer_port: u16,
    /// `--initial-cluster`: `name=http://127.0.0.1:peer_port,...` of every member.
    pub initial_cluster: String,
}

/// An etcd cluster of several members on 127.0.0.1, each with its own data dir, client port
/// and peer port: a cluster's failures (a leader killed, quorum lost and regained) on one
/// machine. Members are stopped (and throwaway data removed) on drop.
pub struct EtcdCluster {
    pub members: Vec<EtcdServer>,
}

impl EtcdCluster {
    /// The options of each of `n` members: data in `<data_dir>/member-<i>` (a temporary
    /// dir each when `None`), client and peer ports as given (free ones, chosen now, when
    /// `None`). Keep them to start a member again the same way; a cluster whose data is kept
    /// must keep its peer ports too (each member's data records the others' peer URLs).
    pub fn member_options(
        n: usize,
        data_dir: Option<&std::path::Path>,
        client_ports: Option<&[u16]>,
        peer_ports: Option<&[u16]>,
    ) -> Result<Vec<EtcdServerOptions>> {
        if n == 0 {
            return Err(Error::Value("an etcd cluster needs at least one member".into()));
        }
        if client_ports.is_some_and(|p| p.len() != n) || peer_ports.is_some_and(|p| p.len() != n) {
            return Err(Error::Value(format!("{n} members need {n} client ports and {n} peer ports")));
        }
        let peers: Vec<u16> = match peer_ports {
            Some(p) => p.to_vec(),
            None => (0..n).map(|_| free_port()).collect::<Result<_>>()?,
        };
        // Client ports are fixed now, free ones if not given: a member started again must be
        // where the clients know it.
        let clients: Vec<u16> = match client_ports {
            Some(p) => p.to_vec(),
            None => (0..n).map(|_| free_port()).collect::<Result<_>>()?,
        };
        let initial_cluster = peers.iter().enumerate().map(|(i, p)| format!("sdp-{i}=http://127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
        Ok((0..n)
            .map(|i| EtcdServerOptions {
                data_dir: data_dir.map(|d| d.join(format!("member-{i}"))),
                client_port: Some(clients[i]),
                member: Some(ClusterMember { name: format!("sdp-{i}"), peer_port: peers[i], initial_cluster: initial_cluster.clone() }),
                ..Default::default()
            })
            .collect())
    }

    /// A throwaway cluster of `n` members.
    pub fn start(n: usize) -> Result<Self> {
        Self::start_with(&Self::member_options(n, None, None, None)?)
    }

    /// Start every member (all at once: none can serve before a quorum runs) and wait
    /// until each client port accepts connections.
    pub fn start_with(options: &[EtcdServerOptions]) -> Result<Self> {
        let mut members = Vec::new();
        for o in options {
            let dir = EtcdServer::data_dir(o)?;
            members.push(EtcdServer::spawn(o, &dir)?);
        }
        for m in &mut members {
            m.wait_ready(Duration::from_secs(20)).map_err(|e| Error::Connection(format!("etcd member did not start: {e}")))?;
        }
        Ok(EtcdCluster { members })
    }

    /// `127.0.0.1:a,127.0.0.1:b,...`: what `SDP_CONFIG_HOST` and etcdctl's `--endpoints` take.
    pub fn endpoints(&self) -> String {
        self.members.iter().map(EtcdServer::endpoint).collect::<Vec<_>>().join(",")
    }

    /// Options for [`crate::EtcdBackend::connect`] naming every member.
    pub fn options(&self) -> crate::EtcdOptions {
        crate::EtcdOptions { host: self.endpoints(), ..Default::default() }
    }
}

/// Make the process `cmd` starts receive `signal` when its parent ends, however it ends
/// (Linux `PR_SET_PDEATHSIG`). Strictly: when the *thread* that spawns it ends, so spawn
/// from a thread that lives as long as the process (the main thread). A parent that is
/// already gone when the child starts makes the spawn fail instead of leaving an orphan.
pub fn end_with_parent(cmd: &mut Command, signal: i32) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls (prctl, getppid) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(std::io::Error::other("the parent ended before the child started"));
            }
            Ok(())
        });
    }
}

/// TLS files of an etcd server (PEM paths), as etcd's `--cert-file`, `--key-file` and,
/// to require client certificates, `--client-cert-auth --trusted-ca-file`.
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// CA whose client certificates are accepted; `Some` turns on `--client-cert-auth`.
    pub client_ca_file: Option<PathBuf>,
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| Error::Connection(format!("no free port: {e}")))?;
    Ok(l.local_addr().map_err(|e| Error::Connection(e.to_string()))?.port())
}

/// The etcd binary: `$SDP_ETCD_BIN`, else `etcd` on `PATH`; `None` if there is none.
pub fn etcd_binary() -> Option<PathBuf> {
    if let Ok(b) = std::env::var("SDP_ETCD_BIN") {
        return Some(PathBuf::from(b));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("etcd")).find(|p| p.is_file())
}

impl EtcdServer {
    /// Start a throwaway etcd (free ports, temporary data removed on drop) and wait
    /// until its client port accepts connections (up to 20 s).
    pub fn start() -> Result<Self> {
        Self::start_with(&EtcdServerOptions::default())
    }

    /// Start etcd as `options` say (for the one-machine launcher: a kept data dir and
    /// a fixed port; or one member of a [`EtcdCluster`]).
    pub fn start_with(options: &EtcdServerOptions) -> Result<Self> {
        let data_dir = Self::data_dir(options)?;
        let remove_data = options.data_dir.is_none();
        // Retry on the (unlikely) race of another process taking a port we picked.
        let mut last_err = String::new();
        for _ in 0..3 {
            let mut server = Self::spawn(options, &data_dir)?;
            match server.wait_ready(Duration::from_secs(20)) {
                Ok(()) => return Ok(server),
                Err(e) => {
                    last_err = e;
                    let _ = server.child.kill();
                    let _ = server.child.wait();
                    std::mem::forget(server); // keep the data dir for the next try
                }
            }
        }
        let log = std::fs::read_to_string(data_dir.with_extension("log")).unwrap_or_default();
        if remove_data {
            let _ = std::fs::remove_dir_all(&data_dir);
            let _ = std::fs::remove_file(data_dir.with_extension("log"));
        }
        Err(Error::Connection(format!("etcd did not start: {last_err}\n{log}")))
    }

    /// The data directory `options` ask for (created), or a fresh temporary one.
    fn data_dir(options: &EtcdServerOptions) -> Result<PathBuf> {
        let data_dir = options.data_dir.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!(
                "sdp-etcd-{}-{}",
                std::process::id(),
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
            ))
        });
        std::fs::create_dir_all(&data_dir).map_err(|e| Error::Connection(format!("{}: {e}", data_dir.display())))?;
        Ok(data_dir)
    }

    /// Start the process (not waiting for it to serve).
    fn spawn(options: &EtcdServerOptions, data_dir: &std::path::Path) -> Result<Self> {
        let bin = etcd_binary()
            .ok_or_else(|| Error::Connection("no etcd binary on PATH (apt-get install etcd-server, or set SDP_ETCD_BIN)".into()))?;
        let remove_data = options.data_dir.is_none();
        let client_port = match options.client_port {
            Some(p) => p,
            None => free_port()?,
        };
        let scheme = if options.tls.is_some() { "https" } else { "http" };
        let client_url = format!("{scheme}://127.0.0.1:{client_port}");
        let (name, peer_url, initial_cluster) = match &options.member {
            Some(m) => (m.name.clone(), format!("http://127.0.0.1:{}", m.peer_port), m.initial_cluster.clone()),
            None => {
                let peer_url = format!("http://127.0.0.1:{}", free_port()?);
                ("sdp-test".to_string(), peer_url.clone(), format!("sdp-test={peer_url}"))
            }
        };
        let log = std::fs::OpenOptions::new().create(true).append(true).open(data_dir.with_extension("log")).ok();
        let mut cmd = Command::new(&bin);
        cmd.arg("--name")
            .arg(&name)
            .arg("--data-dir")
            .arg(data_dir.join("member-data"))
            .arg("--listen-client-urls")
            .arg(&client_url)
            .arg("--advertise-client-urls")
            .arg(&client_url)
            .arg("--listen-peer-urls")
            .arg(&peer_url)
            .arg("--initial-advertise-peer-urls")
            .arg(&peer_url)
            .arg("--initial-cluster")
            .arg(&initial_cluster)
            .arg("--initial-cluster-state")
            .arg("new")
            .arg("--log-level")
            .arg("error")
            .arg("--logger")
            .arg("zap");
        if options.member.is_some() {
            // A cluster on one loaded machine: timers long enough that a busy CPU does not
            // look like a dead leader, short enough that a real one is replaced in ~1 s.
            cmd.arg("--heartbeat-interval=50").arg("--election-timeout=500");
        } else {
            // Short raft timers: a single node elects itself in ~0.05 s.
            cmd.arg("--heartbeat-interval=10").arg("--election-timeout=100");
        }
        if let Some(tls) = &options.tls {
            cmd.arg("--cert-file").arg(&tls.cert_file).arg("--key-file").arg(&tls.key_file);
            if let Some(ca) = &tls.client_ca_file {
                cmd.arg("--client-cert-auth").arg("--trusted-ca-file").arg(ca);
            }
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        if options.end_with_parent {
            end_with_parent(&mut cmd, libc::SIGTERM);
        }
        match log {
            Some(f) => cmd.stderr(f),
            None => cmd.stderr(Stdio::null()),
        };
        // etcd reads every ETCD_* variable as a flag; keep the caller's out.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("ETCD") {
                cmd.env_remove(k);
            }
        }
        let child = cmd.spawn().map_err(|e| Error::Connection(format!("cannot start {}: {e}", bin.display())))?;
        Ok(EtcdServer { child, data_dir: data_dir.to_path_buf(), client_port, tls: options.tls.is_some(), remove_data })
    }

    fn wait_ready(&mut self, limit: Duration) -> std::result::Result<(), String> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("etcd exited with {status}"));
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.client_port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("client port not open after 20 s".into())
    }

    pub fn port(&self) -> u16 {
        self.client_port
    }

    /// The etcd process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL the process and reap it (the data dir stays until drop): a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The exit status, once the etcd process has exited (for a supervisor to notice).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// `127.0.0.1:<port>`, as etcdctl `--endpoints` wants it.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    /// Options for [`crate::EtcdBackend::connect`] (for a TLS server, add the CA in `cert`).
    pub fn options(&self) -> crate::EtcdOptions {
        let protocol = if self.tls { "https" } else { "http" }.to_string();
        crate::EtcdOptions { port: self.client_port, protocol, ..Default::default() }
    }

    /// Connect a client; retries while the fresh node elects itself.
    pub async fn connect(&self) -> Result<crate::EtcdBackend> {
        let mut last = None;
        for _ in 0..100 {
            match crate::EtcdBackend::connect(&self.options()).await {
                Ok(b) => return Ok(b),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(last.unwrap_or_else(|| Error::Connection("etcd not ready".into())))
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.remove_data {
            let _ = std::fs::remove_dir_all(&self.data_dir);
            let _ = std::fs::remove_file(self.data_dir.with_extension("log"));
        }
    }
}
