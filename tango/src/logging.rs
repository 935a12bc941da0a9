//! The Tango Logging Service as cppTango offers it: every device has a level (OFF, FATAL,
//! ERROR, WARN, INFO, DEBUG; WARN by default) and a set of targets its records go to:
//! `console::cout` (the server's standard error here, beside the tracing output),
//! `file::<path>` (one line per record, appended) and `device::<log consumer>` (each record
//! sent to that device's `Log` command as cppTango's appender sends it:
//! `[ms since epoch, level, device, message, "", thread]`).
//!
//! The admin device drives it (`SetLoggingLevel`, `AddLoggingTarget`, ...); the properties
//! `logging_level` and `logging_target` set it at start. The runtime logs the device's own
//! diagnostics here (commands run, failed commands and reads, lock and polling changes), so a
//! log consumer sees what cppTango users expect to see.
//!
//! Sending to a log consumer is done on a thread of its own per target, fed by a bounded
//! queue: a slow or dead consumer drops records instead of stalling the device.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use crate::idl::DevFailed;

/// `Tango::LogLevel`: the numbers the admin commands take and return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(i32)]
pub enum Level {
    Off = 0,
    Fatal = 1,
    Error = 2,
    Warn = 3,
    Info = 4,
    Debug = 5,
}

impl Level {
    pub const ALL: [Level; 6] = [Level::Off, Level::Fatal, Level::Error, Level::Warn, Level::Info, Level::Debug];

    pub fn from_i32(n: i32) -> Option<Level> {
        Level::ALL.get(usize::try_from(n).ok()?).copied()
    }

    /// The name used in the `logging_level` property and in records.
    pub fn name(self) -> &'static str {
        match self {
            Level::Off => "OFF",
            Level::Fatal => "FATAL",
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.iter().copied().find(|l| l.name().eq_ignore_ascii_case(s.trim()))
    }
}

/// Where records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetKind {
    Console,
    File(String),
    Device(String),
}

impl TargetKind {
    /// Parse `type::name` (`console`, `console::cout`, `file::/tmp/x.log`, `device::a/b/c`).
    pub fn parse(s: &str) -> Result<TargetKind, DevFailed> {
        let (kind, name) = match s.split_once("::") {
            Some((k, n)) => (k.trim().to_ascii_lowercase(), n.trim().to_string()),
            None => (s.trim().to_ascii_lowercase(), String::new()),
        };
        let bad = |why: String| DevFailed::new("API_MethodArgument", why, "DeviceImpl::add_logging_target");
        match kind.as_str() {
            "console" => Ok(TargetKind::Console),
            "file" if name.is_empty() => Err(bad(format!("File target {s:?} has no file name: use file::<path>"))),
            "file" => Ok(TargetKind::File(name)),
            "device" if name.is_empty() => Err(bad("Device target name must be specified (no default value)".into())),
            "device" => Ok(TargetKind::Device(name.to_ascii_lowercase())),
            _ => Err(bad(format!("Invalid logging target type specified ({kind}): the types are console, file and device"))),
        }
    }

    /// `type::name` as `GetLoggingTarget` lists it.
    pub fn full_name(&self) -> String {
        match self {
            TargetKind::Console => "console::cout".into(),
            TargetKind::File(p) => format!("file::{p}"),
            TargetKind::Device(d) => format!("device::{d}"),
        }
    }
}

/// Delivers records to a log consumer device (the `Log` command). Injected so this module
/// stays free of sockets; the server gives one that uses the blocking client.
pub type ConsumerSender = Arc<dyn Fn(&str, Vec<String>) -> Result<(), String> + Send + Sync>;

struct Target {
    kind: TargetKind,
    /// For device targets: the queue to the sending thread.
    queue: Option<SyncSender<Vec<String>>>,
}

/// One device's logger.
pub struct DeviceLogger {
    device: String,
    level: AtomicI32,
    targets: Mutex<Vec<Target>>,
    /// StopLogging / StartLogging.
    enabled: AtomicBool,
    /// Shared with the sending threads, which look it up per record: targets from the
    /// `logging_target` property are added before the server connects the sender.
    consumer: Arc<Mutex<Option<ConsumerSender>>>,
}

impl std::fmt::Debug for DeviceLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceLogger").field("device", &self.device).field("level", &self.level()).finish()
    }
}

/// Depth of the queue to a log consumer.
const CONSUMER_QUEUE: usize = 1000;

impl DeviceLogger {
    pub fn new(device: &str) -> DeviceLogger {
        DeviceLogger {
            device: device.to_string(),
            level: AtomicI32::new(Level::Warn as i32),
            targets: Mutex::new(Vec::new()),
            enabled: AtomicBool::new(true),
            consumer: Arc::new(Mutex::new(None)),
        }
    }

    /// How `device::` targets deliver their records.
    pub fn set_consumer_sender(&self, s: ConsumerSender) {
        *self.consumer.lock().unwrap_or_else(|p| p.into_inner()) = Some(s);
    }

    pub fn level(&self) -> Level {
        Level::from_i32(self.level.load(Ordering::Relaxed)).unwrap_or(Level::Warn)
    }

    pub fn set_level(&self, l: Level) {
        self.level.store(l as i32, Ordering::Relaxed);
    }

    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    pub fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|t| t.kind.full_name()).collect()
    }

    /// Add a target (`type::name`); adding one that is there already changes nothing.
    pub fn add_target(&self, spec: &str) -> Result<(), DevFailed> {
        let kind = TargetKind::parse(spec)?;
        let mut t = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        if t.iter().any(|x| x.kind == kind) {
            return Ok(());
        }
        let queue = match &kind {
            TargetKind::File(path) => {
                std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| {
                    DevFailed::new(
                        "API_CannotOpenFile",
                        format!("Could not open logging file {path}: {e}"),
                        "DeviceImpl::add_logging_target",
                    )
                })?;
                None
            }
            TargetKind::Device(dev) => Some(self.consumer_thread(dev.clone())),
            TargetKind::Console => None,
        };
        t.push(Target { kind, queue });
        Ok(())
    }

    fn consumer_thread(&self, consumer: String) -> SyncSender<Vec<String>> {
        let (tx, rx) = sync_channel::<Vec<String>>(CONSUMER_QUEUE);
        let sender = self.consumer.clone();
        let device = self.device.clone();
        let _ = std::thread::Builder::new().name("tango-log-consumer".into()).spawn(move || {
            let mut warned = false;
            for record in rx {
                let send = sender.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let Some(send) = send else {
                    tracing::debug!(%device, %consumer, "no log consumer sender (not in a server): record dropped");
                    continue;
                };
                if let Err(e) = send(&consumer, record) {
                    if !warned {
                        tracing::warn!(%device, %consumer, error = %e, "cannot send log records to the log consumer; dropping them");
                        warned = true;
                    }
                }
            }
        });
        tx
    }

    /// Remove a target; `type` alone (or `type::`) removes every target of that type.
    pub fn remove_target(&self, spec: &str) -> Result<(), DevFailed> {
        let mut t = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        let (kind, name) = match spec.split_once("::") {
            Some((k, n)) => (k.trim().to_ascii_lowercase(), n.trim().to_string()),
            None => (spec.trim().to_ascii_lowercase(), String::new()),
        };
        if !["console", "file", "device"].contains(&kind.as_str()) {
            return Err(DevFailed::new(
                "API_MethodArgument",
                format!("Logging target type <{kind}> not supported: the types are console, file and device"),
                "Logging::remove_logging_target",
            ));
        }
        t.retain(|x| {
            let same_type = x.kind.full_name().starts_with(&format!("{kind}::"));
            !(same_type && (name.is_empty() || kind == "console" || x.kind == TargetKind::parse(spec).unwrap_or(TargetKind::Console)))
        });
        Ok(())
    }

    /// Whether a record at `level` would go anywhere.
    pub fn enabled_for(&self, level: Level) -> bool {
        level != Level::Off && level <= self.level() && self.enabled.load(Ordering::Relaxed)
    }

    /// Log a record built only when it would go somewhere (for the runtime's per-request
    /// diagnostics: formatting costs nothing at the default WARN level).
    pub fn log_with(&self, level: Level, msg: impl FnOnce() -> String) {
        if self.enabled_for(level) {
            self.log(level, &msg());
        }
    }

    /// Log one record.
    pub fn log(&self, level: Level, msg: &str) {
        if !self.enabled_for(level) {
            return;
        }
        let t = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        if t.is_empty() {
            return;
        }
        let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis();
        let thread = format!("{:?}", std::thread::current().id());
        for target in t.iter() {
            match (&target.kind, &target.queue) {
                (TargetKind::Console, _) => eprintln!("{} {ms} [{thread}] {} {msg}", level.name(), self.device),
                (TargetKind::File(path), _) => {
                    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
                        let _ = writeln!(f, "{ms} {} {} {msg} [{thread}]", level.name(), self.device);
                    }
                }
                (TargetKind::Device(_), Some(q)) => {
                    let record =
                        vec![ms.to_string(), level.name().to_string(), self.device.clone(), msg.to_string(), String::new(), thread.clone()];
                    if let Err(TrySendError::Full(_)) = q.try_send(record) {
                        tracing::debug!(device = %self.device, "log consumer queue full: record dropped");
                    }
                }
                (TargetKind::Device(_), None) => {}
            }
        }
    }

    /// Apply the `logging_level` / `logging_target` properties; bad values are reported and
    /// skipped (a server starts with what it can use).
    pub fn configure(&self, level: Option<&str>, targets: &[String]) {
        if let Some(l) = level {
            match Level::parse(l) {
                Some(l) => self.set_level(l),
                None => {
                    tracing::warn!(device = %self.device, level = %l, "logging_level is not one of OFF, FATAL, ERROR, WARN, INFO, DEBUG")
                }
            }
        }
        for t in targets {
            if let Err(e) = self.add_target(t) {
                tracing::warn!(device = %self.device, target = %t, error = %e, "logging_target skipped");
            }
        }
    }
}

thread_local! {
    static DEVICE_LOGGER: std::cell::RefCell<Option<Arc<DeviceLogger>>> = const { std::cell::RefCell::new(None) };
}

/// Run `f` (a device handler) with `logger` as the logger of [`log`] and friends: device code
/// logs with `tango::logging::info("...")` as PyTango devices do with `self.info_stream`.
pub fn with_logger<R>(logger: &Arc<DeviceLogger>, f: impl FnOnce() -> R) -> R {
    let previous = DEVICE_LOGGER.with(|c| c.replace(Some(logger.clone())));
    let r = f();
    DEVICE_LOGGER.with(|c| *c.borrow_mut() = previous);
    r
}

/// Log from device code to the device being served (nothing outside a handler).
pub fn log(level: Level, msg: &str) {
    DEVICE_LOGGER.with(|c| {
        if let Some(l) = c.borrow().as_ref() {
            l.log(level, msg)
        }
    })
}

pub fn fatal(msg: &str) {
    log(Level::Fatal, msg)
}
pub fn error(msg: &str) {
    log(Level::Error, msg)
}
pub fn warn(msg: &str) {
    log(Level::Warn, msg)
}
pub fn info(msg: &str) {
    log(Level::Info, msg)
}
pub fn debug(msg: &str) {
    log(Level::Debug, msg)
}

/// Tango device-name patterns as the logging commands take them: `*` matches any run of
/// characters, case-insensitive.
pub fn matches(pattern: &str, name: &str) -> bool {
    fn rec(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => rec(&p[1..], n) || (!n.is_empty() && rec(p, &n[1..])),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => rec(&p[1..], &n[1..]),
            _ => false,
        }
    }
    rec(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_filter_records_and_files_receive_them() {
        let dir = std::env::temp_dir().join(format!("tango-logging-test-{}", std::process::id()));
        let path = dir.with_extension("log");
        let _ = std::fs::remove_file(&path);
        let l = DeviceLogger::new("a/b/c");
        l.add_target(&format!("file::{}", path.display())).unwrap();
        l.add_target("console").unwrap();
        assert_eq!(l.targets(), vec![format!("file::{}", path.display()), "console::cout".into()]);
        l.log(Level::Info, "hidden at WARN");
        l.set_level(Level::Debug);
        l.log(Level::Info, "shown at DEBUG");
        l.set_enabled(false);
        l.log(Level::Error, "hidden while stopped");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("hidden"), "{text}");
        assert!(text.contains("INFO a/b/c shown at DEBUG"), "{text}");
        l.remove_target("file").unwrap();
        assert_eq!(l.targets(), vec!["console::cout".to_string()]);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn bad_targets_say_what_is_allowed() {
        let l = DeviceLogger::new("a/b/c");
        assert_eq!(l.add_target("syslog::x").unwrap_err().reason(), "API_MethodArgument");
        assert_eq!(l.add_target("device").unwrap_err().reason(), "API_MethodArgument");
        assert_eq!(l.add_target("file::/nonexistent-dir/x.log").unwrap_err().reason(), "API_CannotOpenFile");
        assert!(l.targets().is_empty());
    }

    #[test]
    fn patterns() {
        assert!(matches("*", "a/b/c"));
        assert!(matches("test/*/1", "Test/device/1"));
        assert!(!matches("test/*/2", "test/device/1"));
        assert_eq!(Level::parse("debug"), Some(Level::Debug));
        assert_eq!(Level::from_i32(6), None);
    }
}
