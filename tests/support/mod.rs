//! Helpers of the controller/deployer/workflow tests: a throwaway etcd, the real `sdp`
//! and `sdpcfg` binaries as child processes with their logs in files, and waiting.
#![allow(dead_code)]

use sdp_config::{Db, EtcdServer};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn etcd() -> Option<EtcdServer> {
    have_etcd().then(|| EtcdServer::start().expect("start etcd"))
}

/// Is there an etcd to start? (If not, the test says it skips.)
pub fn have_etcd() -> bool {
    if sdp_config::server::etcd_binary().is_none() {
        eprintln!("\n*** SKIPPING: no `etcd` on PATH (apt-get install etcd-server) ***\n");
        return false;
    }
    true
}

pub async fn db(e: &EtcdServer) -> Db {
    Db::new(Arc::new(e.connect().await.expect("connect etcd")))
}

/// A temporary directory, removed (after killing any process group recorded by a
/// process deployer below it) on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "sdp-test-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        for (pid, _) in recorded_pids(&self.0) {
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        if std::env::var_os("SDP_TEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        } else {
            eprintln!("kept {}", self.0.display());
        }
    }
}

/// (pid, "deploy_id/replica") of every process record below `dir` (any depth ≤ 3).
pub fn recorded_pids(dir: &Path) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    fn walk(d: &Path, depth: usize, out: &mut Vec<(i32, String)>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() && depth < 3 {
                walk(&p, depth + 1, out);
            } else if p.extension().and_then(|x| x.to_str()) == Some("json") {
                if let Some(v) = std::fs::read_to_string(&p).ok().and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok()) {
                    if let (Some(pid), Some(id)) = (v["pid"].as_i64(), v["deploy_id"].as_str()) {
                        out.push((pid as i32, format!("{id}/{}", v["replica"])));
                    }
                }
            }
        }
    }
    walk(dir, 0, &mut out);
    out.sort();
    out
}

/// Is `pid` a live (non-zombie) process?
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(s) => s.rfind(')').map(|i| s[i + 1..].split_whitespace().next() != Some("Z")).unwrap_or(false),
    }
}

pub fn sdp_exe() -> &'static str {
    env!("CARGO_BIN_EXE_sdp")
}

fn base_command(exe: &str, port: u16) -> Command {
    let mut c = Command::new(exe);
    for (k, _) in std::env::vars() {
        if k.starts_with("SDP_") || k == "RUST_LOG" {
            c.env_remove(k);
        }
    }
    c.env("SDP_CONFIG_HOST", "127.0.0.1").env("SDP_CONFIG_PORT", port.to_string());
    c
}

/// A running `sdp` process; SIGKILLed on drop.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(port: u16, args: &[&str], env: &[(&str, &str)], log: &Path) -> Daemon {
        let mut c = base_command(sdp_exe(), port);
        for (k, v) in env {
            c.env(k, v);
        }
        let f = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let child = c.args(args).stdin(Stdio::null()).stdout(f.try_clone().unwrap()).stderr(f).spawn().expect("start sdp");
        Daemon { child, log: log.to_path_buf() }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM and wait (up to 10 s); the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        unsafe {
            libc::kill(self.pid(), libc::SIGTERM);
        }
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
        None
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct Out {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

pub fn sdpcfg(port: u16, args: &[&str]) -> Out {
    sdpcfg_with(port, &[], args)
}

/// Run sdpcfg with these variables added (e.g. `SDP_CONFIG_PROTOCOL`).
pub fn sdpcfg_with(port: u16, env: &[(&str, &str)], args: &[&str]) -> Out {
    let o = base_command(env!("CARGO_BIN_EXE_sdpcfg"), port)
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run sdpcfg");
    Out { stdout: String::from_utf8(o.stdout).unwrap(), stderr: String::from_utf8(o.stderr).unwrap(), code: o.status.code().unwrap_or(-1) }
}

/// Run sdpcfg, require exit 0, return stdout.
pub fn sdpcfg_ok(port: u16, args: &[&str]) -> String {
    let o = sdpcfg(port, args);
    assert_eq!(o.code, 0, "sdpcfg {args:?}: {}", o.stderr);
    o.stdout
}

pub async fn get(db: &Db, path: &str) -> Option<String> {
    db.get(path, None).await.unwrap().0
}

pub async fn get_json(db: &Db, path: &str) -> Option<serde_json::Value> {
    get(db, path).await.map(|s| serde_json::from_str(&s).unwrap())
}

pub async fn mod_rev(db: &Db, path: &str) -> i64 {
    db.get(path, None).await.unwrap().1.mod_revision
}

pub async fn keys(db: &Db, prefix: &str, recurse: usize) -> Vec<String> {
    db.list_keys(prefix, recurse).await.unwrap()
}

/// Every key but the component records of the controller and the deployers, which stay
/// while they run (a finished workflow's record must go with its PB: it is not excluded).
pub async fn keys_but_services(db: &Db) -> Vec<String> {
    let services = ["/component/processing-controller", "/component/deployer-process", "/component/deployer-helm"];
    keys(db, "/", 8).await.into_iter().filter(|k| !services.iter().any(|s| k == s || k.starts_with(&format!("{s}/")))).collect()
}

/// Evaluate `$e` (an `Option`) every 100 ms until it is `Some`, at most `$secs` seconds.
#[macro_export]
macro_rules! eventually {
    ($secs:expr, $what:expr, $e:expr) => {{
        let t0 = std::time::Instant::now();
        loop {
            if let Some(v) = $e {
                break v;
            }
            if t0.elapsed() > std::time::Duration::from_secs_f64($secs as f64) {
                panic!("timed out after {} s waiting for {}", $secs, $what);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }};
}

/// `Some(())` when `cond`, for `eventually!`.
pub fn when(cond: bool) -> Option<()> {
    cond.then_some(())
}
