//! The black box: the last requests a device received, newest first, as `black_box(n)`
//! returns them (cppTango's format, which operators read and tools parse).
//!
//! Entries are recorded raw and formatted only when somebody reads the black box: recording
//! is on every request's path, reading almost never happens.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::idl::{ClntIdent, DevFailed};

/// The last requests a device received, newest first (`black_box(n)`).
#[derive(Default)]
pub struct BlackBox {
    entries: Mutex<VecDeque<BlackBoxEntry>>,
}

/// One request as the black box remembers it.
#[derive(Debug, Clone)]
pub struct BlackBoxEntry {
    pub at: std::time::SystemTime,
    /// `Operation ping`, `Attribute state`, ...
    pub what: &'static str,
    /// The IDL operation name.
    pub op: &'static str,
    /// Command name or attribute names, if the operation has them.
    pub detail: Detail,
    pub host: Arc<str>,
    pub client: Option<ClntIdent>,
}

#[derive(Debug, Clone)]
pub enum Detail {
    None,
    Cmd(String, bool),
    Attrs(Vec<String>),
}

impl BlackBoxEntry {
    fn format(&self) -> String {
        let mut s = format!("{} : {} {}", black_box_time(self.at), self.what, self.op);
        match &self.detail {
            Detail::None => {}
            Detail::Cmd(c, from_cache) => {
                s += &format!(" (cmd = {c})");
                if *from_cache {
                    s += " from cache_device";
                }
            }
            Detail::Attrs(a) => s += &format!(" (attr = {})", a.join(", ")),
        }
        s += &format!(" requested from {}", self.host);
        if let Some(c) = &self.client {
            s += &format!(" ({})", c.describe());
        }
        s
    }
}

const BLACK_BOX_DEPTH: usize = 50;

impl BlackBox {
    pub fn record(&self, e: BlackBoxEntry) {
        let mut q = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() == BLACK_BOX_DEPTH {
            q.pop_back();
        }
        q.push_front(e);
    }

    pub fn last(&self, n: i32) -> Result<Vec<String>, DevFailed> {
        if n <= 0 {
            return Err(DevFailed::new(
                "API_BlackBoxArgument",
                format!("Cannot return {n} black box entries: the number must be positive"),
                "BlackBox::read",
            ));
        }
        let e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if e.is_empty() {
            return Err(DevFailed::new("API_BlackBoxEmpty", "Nothing stored yet in black-box", "BlackBox::read"));
        }
        Ok(e.iter().take(n as usize).map(BlackBoxEntry::format).collect())
    }
}

/// `dd/mm/yyyy hh:mm:ss:cc` in UTC, the black box's time format.
pub(crate) fn black_box_time(at: std::time::SystemTime) -> String {
    let d = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, dd) = civil_from_days(days);
    format!("{dd:02}/{m:02}/{y} {:02}:{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60, d.subsec_millis() / 10)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_417), (2025, 11, 25));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
