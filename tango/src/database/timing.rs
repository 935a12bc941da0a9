//! How long the database's busiest commands take, as the C++ DataBaseds reports it: the
//! spectrum attributes `Timing_index` (command names), `Timing_calls`, `Timing_average`,
//! `Timing_minimum`, `Timing_maximum` (milliseconds) and `Timing_info` (the same as a
//! tab-separated table for people), cleared by `ResetTimingValues`.
//!
//! The timed commands are the C++ server's 28 (those a control system calls often: imports
//! and exports, property reads and writes, the server cache, `DbMySqlSelect`), in its
//! alphabetical order, so tools that read these attributes by position find the same
//! columns. Only calls that succeed are timed. `Init` of the database device clears them.

use std::time::Duration;

/// The commands the C++ DataBaseds times, in the order of its `Timing_index`.
pub const TIMED: [&str; 28] = [
    "DbDeleteDeviceProperty",
    "DbExportDevice",
    "DbExportEvent",
    "DbGetClassPropertyList",
    "DbGetDataForServerCache",
    "DbGetDeviceAttributeProperty",
    "DbGetDeviceAttributeProperty2",
    "DbGetDeviceClassList",
    "DbGetDeviceDomainList",
    "DbGetDeviceExportedList",
    "DbGetDeviceFamilyList",
    "DbGetDeviceMemberList",
    "DbGetDevicePipeProperty",
    "DbGetDeviceProperty",
    "DbGetDevicePropertyList",
    "DbGetHostList",
    "DbGetHostServerList",
    "DbGetServerList",
    "DbImportDevice",
    "DbImportEvent",
    "DbInfo",
    "DbMySqlSelect",
    "DbPutClassProperty",
    "DbPutDeviceAttributeProperty",
    "DbPutDeviceAttributeProperty2",
    "DbPutDevicePipeProperty",
    "DbPutDeviceProperty",
    "DbUnExportServer",
];

/// The position of `command` in [`TIMED`], if it is timed.
pub fn index(command: &str) -> Option<usize> {
    TIMED.iter().position(|c| *c == command)
}

#[derive(Debug, Default, Clone, Copy)]
struct Stat {
    calls: u64,
    total_ms: f64,
    min_ms: f64,
    max_ms: f64,
}

/// The statistics of every timed command.
#[derive(Debug, Default)]
pub struct Timing {
    stats: [Stat; TIMED.len()],
}

impl Timing {
    /// One successful call of `TIMED[i]` that took `took`.
    pub fn record(&mut self, i: usize, took: Duration) {
        let ms = took.as_secs_f64() * 1000.0;
        let s = &mut self.stats[i];
        if s.calls == 0 || ms < s.min_ms {
            s.min_ms = ms;
        }
        s.max_ms = s.max_ms.max(ms);
        s.total_ms += ms;
        s.calls += 1;
    }

    /// `ResetTimingValues`.
    pub fn reset(&mut self) {
        self.stats = Default::default();
    }

    pub fn calls(&self) -> Vec<f64> {
        self.stats.iter().map(|s| s.calls as f64).collect()
    }

    pub fn average(&self) -> Vec<f64> {
        self.stats.iter().map(|s| if s.calls == 0 { 0.0 } else { s.total_ms / s.calls as f64 }).collect()
    }

    pub fn minimum(&self) -> Vec<f64> {
        self.stats.iter().map(|s| s.min_ms).collect()
    }

    pub fn maximum(&self) -> Vec<f64> {
        self.stats.iter().map(|s| s.max_ms).collect()
    }

    /// `Timing_info`: a title naming `host`, then one tab-separated line per command
    /// (milliseconds with three decimals, then the number of calls).
    pub fn info(&self, host: &str) -> Vec<String> {
        let mut out = vec![
            format!("TANGO Database Timing info on host {host}"),
            " ".to_string(),
            "command\taverage\tminimum\tmaximum\tcalls".to_string(),
            " ".to_string(),
        ];
        let avg = self.average();
        for (i, name) in TIMED.iter().enumerate() {
            let s = &self.stats[i];
            out.push(format!("{name}\t{:6.3}\t{:6.3}\t{:6.3}\t{}", avg[i], s.min_ms, s.max_ms, s.calls));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_counted_and_reset() {
        let mut t = Timing::default();
        let i = index("DbImportDevice").unwrap();
        assert_eq!(index("DbAddDevice"), None);
        for us in [300, 100, 200] {
            t.record(i, Duration::from_micros(us));
        }
        assert_eq!(t.calls()[i], 3.0);
        assert!((t.minimum()[i] - 0.1).abs() < 1e-9 && (t.maximum()[i] - 0.3).abs() < 1e-9);
        assert!((t.average()[i] - 0.2).abs() < 1e-9);
        assert_eq!(t.calls().iter().sum::<f64>(), 3.0);
        let info = t.info("h");
        assert_eq!(info[0], "TANGO Database Timing info on host h");
        assert_eq!(info[4 + i], "DbImportDevice\t 0.200\t 0.100\t 0.300\t3");
        assert_eq!(info.len(), 4 + TIMED.len());
        t.reset();
        assert_eq!(t.calls()[i], 0.0);
        assert_eq!(t.maximum()[i], 0.0);
    }

    #[test]
    fn the_timed_commands_are_in_alphabetical_order() {
        let mut sorted = TIMED;
        sorted.sort_unstable();
        assert_eq!(sorted, TIMED);
    }
}
