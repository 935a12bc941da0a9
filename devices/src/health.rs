//! What `healthState` and `healthInfo` say, decided from what the server sees of the
//! configuration DB.
//!
//! The decision is a pure function of one observation ([`DbSeen`]), so every rule is a row of
//! a table test below; the devices only read the latest observation, which a background
//! monitor on the config-DB runtime keeps current ([`crate::cfgdb::ConfigDb::monitor`]). A
//! Tango read never waits for etcd.
//!
//! `SDPMaster` reports the health of the SDP as far as the master can see it:
//!
//! | what the master sees | healthState | healthInfo (example) |
//! |---|---|---|
//! | etcd answers; the processing controller and at least one deployer are alive | OK | `OK: processing controller and deployer-process alive` |
//! | etcd answers; the controller or every deployer is missing | DEGRADED | `processing controller missing (last seen 2025-06-01 12:00:03 UTC)`, `no deployer alive (none has announced itself)` |
//! | etcd does not answer | FAILED | `configuration DB unreachable since 2025-06-01 12:00:03 UTC: …` |
//! | no answer yet since the server started | UNKNOWN | `waiting for the first answer of the configuration DB` |
//! | no configuration DB configured | UNKNOWN | `no configuration DB (…): the processing controller and deployers cannot be seen` |
//!
//! Without a configuration DB the master cannot see any other part of the SDP, so it does not
//! claim OK; UNKNOWN is the SKA value for "cannot tell".
//!
//! `SDPSubarray` reports its own ability to work: OK while its configuration DB answers,
//! DEGRADED while it does not (Configure cannot create a processing block, state changes are
//! stored only once it is back) and, without any configuration DB, DEGRADED for good (Configure
//! is refused), with `healthInfo` saying which.
//!
//! "Alive" is the component's `/component/<name>/alive` key ([`sdp_config::alive`]), which
//! vanishes within its lease TTL when the component stops, dies or hangs. Times in
//! `healthInfo` are absolute (UTC), not "N s ago", so that the text — and with it the change
//! events — stays still while nothing changes.

use sdp_config::ComponentStatus;

use crate::fsm::HealthState;

/// The processing controller's component name.
pub const CONTROLLER: &str = "processing-controller";
/// Component kinds the master counts.
pub const KIND_CONTROLLER: &str = "controller";
pub const KIND_DEPLOYER: &str = "deployer";

/// One observation of the configuration DB.
#[derive(Debug, Clone, PartialEq)]
pub enum DbSeen {
    /// The server runs without a configuration DB (why).
    Off(String),
    /// No answer yet since the monitor started.
    Waiting,
    /// The DB answered; with every component's status when the monitor follows them
    /// (`None`: it only checks the connection).
    Reachable(Option<Vec<ComponentStatus>>),
    /// The DB does not answer: since when (Unix seconds) and why (the first error).
    Unreachable { since: f64, error: String },
}

/// A health verdict: the attribute values.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub state: HealthState,
    pub info: String,
}

impl Health {
    fn new(state: HealthState, info: impl Into<String>) -> Health {
        Health { state, info: info.into() }
    }
}

/// Unix seconds as `2025-06-01 12:00:03 UTC`.
pub fn utc(t: f64) -> String {
    match chrono::DateTime::from_timestamp(t.floor() as i64, 0) {
        Some(d) => d.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        None => format!("{t:.0} (Unix time)"),
    }
}

fn unreachable(since: f64, error: &str) -> String {
    format!("configuration DB unreachable since {}: {error}", utc(since))
}

/// How a component that is not alive was last seen: `stopped at T`, `last seen T`, or `None`
/// for a record without times.
fn last_word(c: &ComponentStatus) -> Option<String> {
    match (c.stopped, c.last_seen) {
        (Some(t), _) => Some(format!("stopped at {}", utc(t))),
        (None, Some(t)) => Some(format!("last seen {}", utc(t))),
        (None, None) => None,
    }
}

/// The most recently seen of `cs` (the one whose absence says most).
fn latest<'a>(cs: impl Iterator<Item = &'a ComponentStatus>) -> Option<&'a ComponentStatus> {
    cs.max_by(|a, b| a.last_seen.unwrap_or(0.0).total_cmp(&b.last_seen.unwrap_or(0.0)))
}

fn is_controller(c: &ComponentStatus) -> bool {
    c.name == CONTROLLER || c.kind == KIND_CONTROLLER
}

/// `SDPMaster`'s health (see the module docs for the rules).
pub fn master(seen: &DbSeen) -> Health {
    let components = match seen {
        DbSeen::Off(why) => {
            return Health::new(
                HealthState::UNKNOWN,
                format!("no configuration DB ({why}): the processing controller and deployers cannot be seen"),
            )
        }
        DbSeen::Waiting => return Health::new(HealthState::UNKNOWN, "waiting for the first answer of the configuration DB"),
        DbSeen::Unreachable { since, error } => return Health::new(HealthState::FAILED, unreachable(*since, error)),
        DbSeen::Reachable(None) => return Health::new(HealthState::UNKNOWN, "the components are not followed (connection check only)"),
        DbSeen::Reachable(Some(cs)) => cs,
    };
    let mut problems = Vec::new();
    if !components.iter().any(|c| c.alive && is_controller(c)) {
        problems.push(match latest(components.iter().filter(|c| is_controller(c))).and_then(last_word) {
            Some(w) if w.starts_with("stopped") => format!("processing controller {w}"),
            Some(w) => format!("processing controller missing ({w})"),
            None => "processing controller missing (it has never announced itself)".to_string(),
        });
    }
    let deployers: Vec<&str> = components.iter().filter(|c| c.alive && c.kind == KIND_DEPLOYER).map(|c| c.name.as_str()).collect();
    if deployers.is_empty() {
        let known: Vec<String> = components
            .iter()
            .filter(|c| c.kind == KIND_DEPLOYER)
            .map(|c| match last_word(c) {
                Some(w) => format!("{} {w}", c.name),
                None => c.name.clone(),
            })
            .collect();
        problems.push(if known.is_empty() {
            "no deployer alive (none has announced itself)".to_string()
        } else {
            format!("no deployer alive ({})", known.join(", "))
        });
    }
    if problems.is_empty() {
        Health::new(HealthState::OK, format!("OK: processing controller and {} alive", deployers.join(", ")))
    } else {
        Health::new(HealthState::DEGRADED, problems.join("; "))
    }
}

/// `SDPSubarray`'s health (see the module docs for the rules).
pub fn subarray(seen: &DbSeen) -> Health {
    match seen {
        DbSeen::Off(why) => {
            Health::new(HealthState::DEGRADED, format!("no configuration DB ({why}): Configure is refused and the state is not persisted"))
        }
        DbSeen::Waiting => Health::new(HealthState::UNKNOWN, "waiting for the first answer of the configuration DB"),
        DbSeen::Unreachable { since, error } => {
            Health::new(HealthState::DEGRADED, format!("{}; Configure is refused until it answers", unreachable(*since, error)))
        }
        DbSeen::Reachable(_) => Health::new(HealthState::OK, "OK"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use HealthState::*;

    /// 2025-06-01 12:00:03 UTC
    const T: f64 = 1_748_779_203.0;

    fn c(name: &str, kind: &str, alive: bool, last_seen: Option<f64>, stopped: Option<f64>) -> ComponentStatus {
        ComponentStatus { name: name.into(), kind: kind.into(), alive, last_seen, stopped, record: Value::Null }
    }
    fn up(name: &str, kind: &str) -> ComponentStatus {
        c(name, kind, true, Some(T), None)
    }
    fn gone(name: &str, kind: &str) -> ComponentStatus {
        c(name, kind, false, Some(T), None)
    }

    #[test]
    fn utc_times() {
        assert_eq!(utc(T), "2025-06-01 12:00:03 UTC");
        assert_eq!(utc(T + 0.9), "2025-06-01 12:00:03 UTC");
    }

    #[test]
    fn master_table() {
        let reachable = |cs: Vec<ComponentStatus>| DbSeen::Reachable(Some(cs));
        let rows: Vec<(DbSeen, HealthState, &str)> = vec![
            (
                DbSeen::Off("TOGGLE_CONFIG_DB=0".into()),
                UNKNOWN,
                "no configuration DB (TOGGLE_CONFIG_DB=0): the processing controller and deployers cannot be seen",
            ),
            (DbSeen::Waiting, UNKNOWN, "waiting for the first answer of the configuration DB"),
            (
                DbSeen::Unreachable { since: T, error: "Cannot connect to etcd at http://127.0.0.1:2379: refused".into() },
                FAILED,
                "configuration DB unreachable since 2025-06-01 12:00:03 UTC: Cannot connect to etcd at http://127.0.0.1:2379: refused",
            ),
            (DbSeen::Reachable(None), UNKNOWN, "the components are not followed (connection check only)"),
            (
                reachable(vec![up(CONTROLLER, "controller"), up("deployer-process", "deployer")]),
                OK,
                "OK: processing controller and deployer-process alive",
            ),
            (
                reachable(vec![up(CONTROLLER, "controller"), up("deployer-helm", "deployer"), up("deployer-process", "deployer")]),
                OK,
                "OK: processing controller and deployer-helm, deployer-process alive",
            ),
            // any component of kind controller is the controller
            (reachable(vec![up("pc-2", "controller"), up("d", "deployer")]), OK, "OK: processing controller and d alive"),
            // workflows and device servers do not count
            (
                reachable(vec![up(CONTROLLER, "controller"), up("workflow-pb-1", "workflow"), up("SDPSubarray-1", "device-server")]),
                DEGRADED,
                "no deployer alive (none has announced itself)",
            ),
            (
                reachable(vec![]),
                DEGRADED,
                "processing controller missing (it has never announced itself); no deployer alive (none has announced itself)",
            ),
            (
                reachable(vec![gone(CONTROLLER, "controller"), up("deployer-process", "deployer")]),
                DEGRADED,
                "processing controller missing (last seen 2025-06-01 12:00:03 UTC)",
            ),
            (
                reachable(vec![c(CONTROLLER, "controller", false, Some(T), Some(T)), up("deployer-process", "deployer")]),
                DEGRADED,
                "processing controller stopped at 2025-06-01 12:00:03 UTC",
            ),
            (
                reachable(vec![
                    up(CONTROLLER, "controller"),
                    gone("deployer-process", "deployer"),
                    c("deployer-helm", "deployer", false, Some(T + 60.0), Some(T + 60.0)),
                ]),
                DEGRADED,
                "no deployer alive (deployer-process last seen 2025-06-01 12:00:03 UTC, deployer-helm stopped at 2025-06-01 12:01:03 UTC)",
            ),
            // one deployer alive is enough
            (
                reachable(vec![up(CONTROLLER, "controller"), gone("deployer-helm", "deployer"), up("deployer-process", "deployer")]),
                OK,
                "OK: processing controller and deployer-process alive",
            ),
            // a record without times (written by hand) still names the component
            (reachable(vec![up(CONTROLLER, "controller"), c("d", "deployer", false, None, None)]), DEGRADED, "no deployer alive (d)"),
            // of several controller records, the most recently seen one is reported
            (
                reachable(vec![
                    gone(CONTROLLER, "controller"),
                    c("pc-old", "controller", false, Some(T - 3600.0), None),
                    up("d", "deployer"),
                ]),
                DEGRADED,
                "processing controller missing (last seen 2025-06-01 12:00:03 UTC)",
            ),
        ];
        for (seen, state, info) in rows {
            assert_eq!(master(&seen), Health { state, info: info.into() }, "{seen:?}");
        }
    }

    #[test]
    fn subarray_table() {
        let rows: Vec<(DbSeen, HealthState, &str)> = vec![
            (DbSeen::Off("x".into()), DEGRADED, "no configuration DB (x): Configure is refused and the state is not persisted"),
            (DbSeen::Waiting, UNKNOWN, "waiting for the first answer of the configuration DB"),
            (DbSeen::Reachable(None), OK, "OK"),
            (DbSeen::Reachable(Some(vec![])), OK, "OK"),
            (
                DbSeen::Unreachable { since: T, error: "no answer".into() },
                DEGRADED,
                "configuration DB unreachable since 2025-06-01 12:00:03 UTC: no answer; Configure is refused until it answers",
            ),
        ];
        for (seen, state, info) in rows {
            assert_eq!(subarray(&seen), Health { state, info: info.into() }, "{seen:?}");
        }
    }
}
