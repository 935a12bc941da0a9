//! The `process` deployer: each `/deploy` entry of type `process` becomes local
//! processes on this machine.
//!
//! Deployment args:
//! ```json
//! {"command": ["prog", "arg", ...] | "prog", "args": [...], "env": {"K": "V"},
//!  "cwd": "/dir", "replicas": 1, "restart": "on-failure" | "always" | "never"}
//! ```
//! Replica `i` of deployment `D` runs in its own session / process group with stdout
//! and stderr appended to `<state dir>/D/i.stdout.log` and `i.stderr.log`, and is
//! recorded in `<state dir>/D/i.json` (pid, start time, spec). Stopping sends SIGTERM
//! to the group, then SIGKILL after the grace period. The deployer leaves its processes
//! running when it exits; a new deployer adopts those it still wants (same spec, same
//! process: pid *and* start time) and stops the others. Exits are noticed through
//! pidfds (no polling); a failed replica is restarted with backoff and the failure is
//! reported in `/deploy/D/state`.

use super::{backoff, desired, report, watch_from};
use crate::error::Result;
use sdp_config::{json, Config, Deployment};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

#[derive(Debug, Clone)]
pub struct Settings {
    pub state_dir: PathBuf,
    pub grace: Duration,
    /// How long a restarted replica must run before its failure report is cleared.
    pub stable: Duration,
    /// On SIGTERM/SIGINT, stop every process first (default: leave them to the next
    /// deployer, which adopts them).
    pub stop_on_exit: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Restart {
    Always,
    OnFailure,
    Never,
}

#[derive(Debug, Clone)]
struct Spec {
    program: String,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    cwd: Option<String>,
    replicas: usize,
    restart: Restart,
    /// Canonical JSON of the args: a change means "restart with the new spec".
    canonical: String,
}

fn parse_spec(d: &Deployment) -> std::result::Result<Spec, String> {
    let a = d.args.as_object().ok_or("args must be an object")?;
    let strings = |v: &Value, what: &str| -> std::result::Result<Vec<String>, String> {
        v.as_array()
            .ok_or(format!("{what} must be a list of strings"))?
            .iter()
            .map(|x| x.as_str().map(str::to_string).ok_or(format!("{what} must be a list of strings")))
            .collect()
    };
    let mut cmd = match a.get("command") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(v @ Value::Array(_)) => strings(v, "command")?,
        _ => return Err("args.command (a program, or a list: program and arguments) is required".into()),
    };
    if let Some(v) = a.get("args") {
        cmd.extend(strings(v, "args")?);
    }
    if cmd.is_empty() || cmd[0].is_empty() {
        return Err("args.command is empty".into());
    }
    let mut env = BTreeMap::new();
    if let Some(e) = a.get("env") {
        for (k, v) in e.as_object().ok_or("args.env must be an object")? {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            env.insert(k.clone(), v);
        }
    }
    let cwd = match a.get("cwd") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        _ => return Err("args.cwd must be a string".into()),
    };
    let replicas = match a.get("replicas") {
        None => 1,
        Some(v) => v.as_u64().filter(|n| *n <= 64).ok_or("args.replicas must be a number 0..64")? as usize,
    };
    let restart = match a.get("restart").and_then(Value::as_str) {
        None | Some("on-failure") => Restart::OnFailure,
        Some("always") => Restart::Always,
        Some("never") => Restart::Never,
        Some(o) => return Err(format!("args.restart {o:?}: use always, on-failure or never")),
    };
    let program = cmd.remove(0);
    Ok(Spec { program, args: cmd, env, cwd, replicas, restart, canonical: json::dumps(&d.args) })
}

type Key = (String, usize);

/// A process we started or adopted.
#[derive(Debug)]
struct Running {
    pid: i32,
    start_time: u64,
    canonical: String,
    stopping: bool,
}

/// Per-replica memory across passes.
#[derive(Debug, Default)]
struct Book {
    failures: u32,
    next_start: Option<Instant>,
    /// The spec whose process finished for good (not restarted).
    finished: Option<String>,
    /// After failures: when the current process will have run long enough to count as
    /// healthy again (its failure report is then cleared).
    healthy_at: Option<Instant>,
}

#[derive(Debug)]
struct Exited {
    key: Key,
    pid: i32,
    /// Exit code (or 128 + signal) of our own child; `None` for adopted processes.
    code: Option<i32>,
}

/// Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); `None` if gone.
fn start_time(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Write a file so that readers see the old or the new content, never a part.
fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// The live process whose environment holds `SDP_PROCESS_TOKEN=<token>`: (pid, start time).
fn find_by_token(token: &str) -> Option<(i32, u64)> {
    let needle = format!("SDP_PROCESS_TOKEN={token}");
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else { continue };
        if env.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
            // Children inherit the token: the replica is the one leading its group.
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let pgrp = stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().nth(2)?.parse::<i32>().ok());
            if pgrp == Some(pid) {
                return start_time(pid).map(|st| (pid, st));
            }
        }
    }
    None
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: plain syscall; the returned fd (if any) is owned by us.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        None
    } else {
        Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }
}

/// Tell `tx` when `pid` exits (pidfd becomes readable), without polling; our own
/// child is reaped first (its status tells the exit code).
fn watch_exit(key: Key, pid: i32, child: bool, tx: mpsc::UnboundedSender<Exited>) {
    let fd = pidfd_open(pid);
    tokio::spawn(async move {
        if let Some(fd) = fd {
            // SAFETY: we own `fd` and nothing else closes it while it is registered.
            if let Ok(afd) = unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) } {
                let _ = afd.readable().await;
            }
        }
        // The pidfd turns readable a moment before the child becomes a zombie: wait
        // for it (blocking, off the runtime threads) rather than WNOHANG.
        let code = if child { tokio::task::spawn_blocking(move || reap(pid)).await.ok().flatten() } else { None };
        let _ = tx.send(Exited { key, pid, code });
    });
}

fn signal_group(pid: i32, sig: i32) {
    // SAFETY: kill(2) on a process group we created (pgid = leader pid).
    unsafe {
        libc::kill(-pid, sig);
    }
}

/// Reap our child; its exit code (or 128 + signal).
fn reap(pid: i32) -> Option<i32> {
    let mut status = 0;
    // SAFETY: waitpid on our own child.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    if r != pid {
        return None;
    }
    if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Some(128 + libc::WTERMSIG(status))
    } else {
        None
    }
}

struct Deployer {
    config: Config,
    s: Settings,
    running: BTreeMap<Key, Running>,
    books: BTreeMap<Key, Book>,
    exits_tx: mpsc::UnboundedSender<Exited>,
    /// Spec errors already reported (deployment id → canonical args).
    bad: BTreeMap<String, String>,
}

impl Deployer {
    fn dir(&self, deploy_id: &str) -> PathBuf {
        self.s.state_dir.join(deploy_id)
    }

    fn record_path(&self, key: &Key) -> PathBuf {
        self.dir(&key.0).join(format!("{}.json", key.1))
    }

    /// Adopt what a previous deployer left running; forget records of dead processes.
    fn adopt(&mut self) {
        let Ok(dirs) = std::fs::read_dir(&self.s.state_dir) else { return };
        for d in dirs.flatten() {
            let Ok(files) = std::fs::read_dir(d.path()) else { continue };
            for f in files.flatten() {
                let p = f.path();
                if p.extension().and_then(|e| e.to_str()) != Some("json") {
                    continue;
                }
                let rec: Option<Value> = std::fs::read_to_string(&p).ok().and_then(|s| serde_json::from_str(&s).ok());
                let Some(rec) = rec else { continue };
                let (Some(id), Some(replica)) = (rec["deploy_id"].as_str(), rec["replica"].as_u64()) else {
                    continue;
                };
                // A record without a pid: the deployer died between writing it and
                // starting the process. Find the process by its token, if it exists.
                let found = match (rec["pid"].as_i64(), rec["start_time"].as_u64()) {
                    (Some(pid), Some(st)) => Some((pid, st)),
                    _ => rec["token"].as_str().and_then(find_by_token).map(|(p, st)| (p as i64, st)),
                };
                let Some((pid, st)) = found else {
                    let _ = std::fs::remove_file(&p);
                    continue;
                };
                let key = (id.to_string(), replica as usize);
                if rec["pid"].is_null() {
                    let mut rec = rec.clone();
                    rec["pid"] = json!(pid);
                    rec["start_time"] = json!(st);
                    let _ = write_atomic(&p, &json::dumps(&rec));
                }
                if start_time(pid as i32) == Some(st) {
                    tracing::info!("adopting {}[{}]: pid {pid}", key.0, key.1);
                    watch_exit(key.clone(), pid as i32, false, self.exits_tx.clone());
                    self.running.insert(
                        key,
                        Running {
                            pid: pid as i32,
                            start_time: st,
                            canonical: rec["spec"].as_str().unwrap_or_default().to_string(),
                            stopping: false,
                        },
                    );
                } else {
                    tracing::info!("{}[{}] (pid {pid}) ended while no deployer was running", key.0, key.1);
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
    }

    fn spawn(&mut self, key: &Key, spec: &Spec) -> std::result::Result<Running, String> {
        let dir = self.dir(&key.0);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let log = |suffix: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(format!("{}.{suffix}.log", key.1)))
                .map_err(|e| format!("log file: {e}"))
        };
        let mut cmd = std::process::Command::new(&spec.program);
        cmd.args(&spec.args)
            .envs(&spec.env)
            .env("SDP_DEPLOY_ID", &key.0)
            .env("SDP_REPLICA", key.1.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(log("stdout")?)
            .stderr(log("stderr")?);
        if let Some(cwd) = &spec.cwd {
            cmd.current_dir(cwd);
        }
        // SAFETY: setsid is async-signal-safe; it gives the replica its own process group.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        // Write the record before the process exists, with a token the process carries
        // in its environment: a deployer killed right after the spawn leaves a record
        // by which its successor finds the process (no untracked process ever runs).
        let token = format!(
            "{}-{}-{}-{}",
            key.0,
            key.1,
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
        );
        cmd.env("SDP_PROCESS_TOKEN", &token);
        let mut rec = json!({"deploy_id": key.0, "replica": key.1, "pid": null, "start_time": null, "token": token,
                             "spec": spec.canonical, "command": std::iter::once(&spec.program).chain(&spec.args).collect::<Vec<_>>()});
        write_atomic(&self.record_path(key), &json::dumps(&rec)).map_err(|e| format!("cannot write the record: {e}"))?;
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_file(self.record_path(key));
                return Err(format!("cannot start {}: {e}", spec.program));
            }
        };
        let pid = child.id() as i32;
        drop(child); // reaped by `watch_exit` when its pidfd says it exited
        let st = start_time(pid).unwrap_or(0);
        rec["pid"] = json!(pid);
        rec["start_time"] = json!(st);
        if let Err(e) = write_atomic(&self.record_path(key), &json::dumps(&rec)) {
            tracing::warn!("cannot write the record of {}[{}]: {e}", key.0, key.1);
        }
        watch_exit(key.clone(), pid, true, self.exits_tx.clone());
        tracing::info!("started {}[{}]: pid {pid}: {} {}", key.0, key.1, spec.program, spec.args.join(" "));
        Ok(Running { pid, start_time: st, canonical: spec.canonical.clone(), stopping: false })
    }

    fn stop(&mut self, key: &Key) {
        let grace = self.s.grace;
        let Some(r) = self.running.get_mut(key) else { return };
        if r.stopping {
            return;
        }
        r.stopping = true;
        let (pid, st) = (r.pid, r.start_time);
        tracing::info!("stopping {}[{}]: pid {pid}", key.0, key.1);
        signal_group(pid, libc::SIGTERM);
        let key = key.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            if start_time(pid) == Some(st) {
                tracing::warn!("{}[{}] (pid {pid}) still running {grace:?} after SIGTERM: SIGKILL", key.0, key.1);
                signal_group(pid, libc::SIGKILL);
            }
        });
    }

    async fn exited(&mut self, e: Exited, wanted: &BTreeMap<String, Spec>) {
        let Some(r) = self.running.get(&e.key) else { return };
        if r.pid != e.pid {
            return;
        }
        let r = self.running.remove(&e.key).unwrap();
        let code = e.code;
        signal_group(r.pid, libc::SIGKILL); // anything the leader left behind in its group
        let _ = std::fs::remove_file(self.record_path(&e.key));
        let (id, replica) = (&e.key.0, e.key.1);
        if r.stopping {
            tracing::info!("stopped {id}[{replica}] (pid {}, exit {code:?})", r.pid);
            return;
        }
        let Some(spec) = wanted.get(id) else { return };
        let book = self.books.entry(e.key.clone()).or_default();
        book.healthy_at = None;
        let failed = code != Some(0);
        let restart = match spec.restart {
            Restart::Always => true,
            Restart::OnFailure => failed,
            Restart::Never => false,
        };
        let log = self.s.state_dir.join(id).join(format!("{replica}.stderr.log")).display().to_string();
        let state = if restart {
            book.failures += 1;
            let wait = backoff(book.failures - 1);
            book.next_start = Some(Instant::now() + wait);
            tracing::warn!("{id}[{replica}] (pid {}) exited ({code:?}); restarting in {wait:?}", r.pid);
            json!({"status": "RESTARTING", "replica": replica, "exit_code": code, "restarts": book.failures, "log": log})
        } else {
            book.finished = Some(spec.canonical.clone());
            tracing::info!("{id}[{replica}] (pid {}) exited ({code:?}); not restarted", r.pid);
            json!({"status": if failed { "FAILED" } else { "FINISHED" }, "replica": replica, "exit_code": code, "log": log})
        };
        report(&self.config, id, Some(&state)).await;
    }

    /// Make the running set match `wanted`.
    async fn reconcile(&mut self, wanted: &BTreeMap<String, Spec>) {
        let keys: Vec<Key> = self.running.keys().cloned().collect();
        for key in keys {
            let keep = wanted.get(&key.0).is_some_and(|s| key.1 < s.replicas && s.canonical == self.running[&key].canonical);
            if !keep {
                self.stop(&key);
            }
        }
        let wanted_keys: BTreeSet<Key> = wanted.iter().flat_map(|(id, s)| (0..s.replicas).map(move |i| (id.clone(), i))).collect();
        self.books.retain(|k, _| wanted_keys.contains(k));
        for key in wanted_keys {
            let spec = &wanted[&key.0];
            if self.running.contains_key(&key) {
                continue; // running, or stopping (restarted once it is gone)
            }
            let book = self.books.entry(key.clone()).or_default();
            if book.finished.as_deref() == Some(spec.canonical.as_str()) {
                continue;
            }
            book.finished = None;
            if book.next_start.is_some_and(|t| t > Instant::now()) {
                continue;
            }
            book.next_start = None;
            let spec = spec.clone();
            match self.spawn(&key, &spec) {
                Ok(r) => {
                    let book = self.books.get_mut(&key).unwrap();
                    if book.failures > 0 {
                        book.healthy_at = Some(Instant::now() + self.s.stable);
                    }
                    self.running.insert(key, r);
                }
                Err(e) => {
                    let book = self.books.get_mut(&key).unwrap();
                    book.failures += 1;
                    let wait = backoff(book.failures - 1);
                    book.next_start = Some(Instant::now() + wait);
                    tracing::error!("{}[{}]: {e}; retrying in {wait:?}", key.0, key.1);
                    let state =
                        json!({"status": "FAILED", "replica": key.1, "error": e, "attempts": book.failures, "retry_in_s": wait.as_secs()});
                    report(&self.config, &key.0, Some(&state)).await;
                }
            }
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        self.books.values().flat_map(|b| [b.next_start, b.healthy_at]).flatten().min()
    }

    /// Replicas that have run for `stable` since their last failure: clear the report.
    async fn forget_old_failures(&mut self) {
        let now = Instant::now();
        let mut healed = Vec::new();
        for (key, book) in self.books.iter_mut() {
            if book.healthy_at.is_some_and(|t| t <= now) {
                book.healthy_at = None;
                if self.running.get(key).is_some_and(|r| !r.stopping) {
                    book.failures = 0;
                    healed.push(key.clone());
                }
            }
        }
        for key in healed {
            let replicas_failing = self.books.iter().any(|(k, b)| k.0 == key.0 && b.failures > 0);
            if !replicas_failing {
                tracing::info!("{} has run for {:?} since its last failure", key.0, self.s.stable);
                report(&self.config, &key.0, None).await;
            }
        }
    }
}

/// Run until SIGTERM/SIGINT; processes are left running for the next deployer.
pub async fn run(s: Settings) -> Result<()> {
    let stop = crate::signals::shutdown_signal();
    std::fs::create_dir_all(&s.state_dir).map_err(|e| format!("state dir {}: {e}", s.state_dir.display()))?;
    let _lock = lock_state_dir(&s.state_dir).await?;
    crate::configdb::serve_as(COMPONENT_NAME, "deployer", async |config, alive| serve(s, config, stop, alive).await).await
}

/// The process deployer's name in the component records (`/component/<name>`).
pub const COMPONENT_NAME: &str = "deployer-process";

async fn serve(s: Settings, config: Config, mut stop: tokio::sync::watch::Receiver<bool>, alive: &sdp_config::Liveness) -> Result<()> {
    let (exits_tx, mut exits_rx) = mpsc::unbounded_channel();
    let mut d = Deployer { config, s, running: BTreeMap::new(), books: BTreeMap::new(), exits_tx, bad: BTreeMap::new() };
    d.adopt();
    tracing::info!("process deployer started: state dir {}, {} processes adopted", d.s.state_dir.display(), d.running.len());
    let mut watch = None;
    loop {
        let mut wanted = BTreeMap::new();
        // Reading and reconciling is work (a hang there is reported); waiting is not.
        let work = alive.working();
        match desired(&d.config, "process").await {
            Err(e) => {
                tracing::warn!("cannot read deployments: {e}");
                watch = None;
            }
            Ok((deps, rev)) => {
                for (id, dep) in &deps {
                    match parse_spec(dep) {
                        Ok(spec) => {
                            d.bad.remove(id);
                            wanted.insert(id.clone(), spec);
                        }
                        Err(e) => {
                            let canon = json::dumps(&dep.args);
                            if d.bad.get(id) != Some(&canon) {
                                tracing::error!("deployment {id}: {e}");
                                report(&d.config, id, Some(&json!({"status": "FAILED", "error": e}))).await;
                                d.bad.insert(id.clone(), canon);
                            }
                        }
                    }
                }
                d.bad.retain(|id, _| deps.contains_key(id));
                d.reconcile(&wanted).await;
                d.forget_old_failures().await;
                if watch.is_none() {
                    match watch_from(&d.config, rev).await {
                        Ok(w) => watch = Some(w),
                        Err(e) => tracing::warn!("cannot watch deployments: {e}"),
                    }
                }
            }
        }
        drop(work);
        // Sleep until something happens.
        let timer = d.next_timer();
        let sleep_until = timer.map(tokio::time::Instant::from_std);
        tokio::select! {
            _ = super::next_change(&mut watch) => {}
            Some(e) = exits_rx.recv() => {
                d.exited(e, &wanted).await;
                while let Ok(e) = exits_rx.try_recv() {
                    d.exited(e, &wanted).await;
                }
            }
            _ = async { match sleep_until { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {}
            _ = stop.changed() => {
                if !d.s.stop_on_exit {
                    tracing::info!("Asked to terminate; {} processes keep running for the next deployer", d.running.len());
                    return Ok(());
                }
                tracing::info!("Asked to terminate; stopping {} processes first", d.running.len());
                let keys: Vec<Key> = d.running.keys().cloned().collect();
                for k in &keys {
                    d.stop(k);
                }
                let limit = tokio::time::Instant::now() + d.s.grace + Duration::from_secs(2);
                while !d.running.is_empty() {
                    match tokio::time::timeout_at(limit, exits_rx.recv()).await {
                        Ok(Some(e)) => d.exited(e, &wanted).await,
                        _ => break,
                    }
                }
                return Ok(());
            }
        }
    }
}

/// How long a starting deployer waits for the lock of its state directory.
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// One deployer per state directory: an exclusive `flock` on `<dir>/.lock`, held for
/// the life of the process (released by the kernel however the process ends).
///
/// A deployer killed while starting a replica leaves a child between fork and exec; that
/// child still shares the lock (the descriptor closes at exec) for a moment. So a successor
/// waits up to [`LOCK_WAIT`] for the lock rather than failing at once — and once it holds
/// it, every child of its predecessor has exec'd, so `adopt` sees each one's token in its
/// environment (none is taken for dead and started twice).
async fn lock_state_dir(dir: &Path) -> Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsRawFd;
    let path = dir.join(".lock");
    let mut f = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
    let deadline = Instant::now() + LOCK_WAIT;
    // SAFETY: flock on a file we opened.
    while unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        if Instant::now() >= deadline {
            let mut holder = String::new();
            let _ = f.read_to_string(&mut holder);
            return Err(format!("another process deployer (pid {}) uses {}", holder.trim(), dir.display()).into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f.set_len(0)?;
    f.seek(std::io::SeekFrom::Start(0))?;
    write!(f, "{}", std::process::id())?;
    Ok(f)
}

/// Default state directory: `$SDP_PROCESS_STATE_DIR`, else `$XDG_STATE_HOME/sdp/process`,
/// else `~/.local/state/sdp/process`, else a directory in /tmp.
pub fn default_state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SDP_PROCESS_STATE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return Path::new(&d).join("sdp/process");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return Path::new(&h).join(".local/state/sdp/process");
    }
    std::env::temp_dir().join(format!("sdp-process-{}", unsafe { libc::getuid() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(args: Value) -> Deployment {
        Deployment::new("p-x", "process", args).unwrap()
    }

    #[test]
    fn spec_forms() {
        let s = parse_spec(&dep(json!({"command": ["sleep", "10"], "env": {"A": "1", "N": 2}, "replicas": 2}))).unwrap();
        assert_eq!((s.program.as_str(), s.args.clone(), s.replicas), ("sleep", vec!["10".to_string()], 2));
        assert_eq!(s.env["N"], "2");
        let s = parse_spec(&dep(json!({"command": "sleep", "args": ["5"], "restart": "never"}))).unwrap();
        assert_eq!((s.args.clone(), s.restart), (vec!["5".to_string()], Restart::Never));
        assert!(parse_spec(&dep(json!({"args": ["x"]}))).unwrap_err().contains("command"));
        assert!(parse_spec(&dep(json!({"command": [1]}))).is_err());
        assert!(parse_spec(&dep(json!({"command": "x", "restart": "sometimes"}))).is_err());
    }

    #[test]
    fn start_time_of_self_and_of_nothing() {
        assert!(start_time(std::process::id() as i32).is_some());
        assert_eq!(start_time(i32::MAX), None);
    }
}
