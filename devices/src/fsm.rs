//! The subarray's observing-state machine, as data.
//!
//! One table, [`TRANSITIONS`], says which command is allowed in which obsState, under which
//! adminMode guard, where it leads and what it does to the Tango State. The command handlers
//! ([`check`]), the devices' `is_allowed` guards and the diagram in `docs/` ([`mermaid`]) all
//! read it; there is no other place that decides whether a command may run.
//!
//! The enumerations keep the numbering of the 2019 SDP prototype (subarray 0.5.19): obsState
//! IDLE 0 … FAULT 6 and the SDP adminMode numbering OFFLINE 0, ONLINE 1, … (which differs
//! from lmc-base-classes).
//!
//! The ADR-8 interface (what a current TMC drives) has a table of its own: [`adr8`].

pub mod adr8;

use tango::{tango_enum, DevFailed, DevState};

tango_enum! {
    /// Observing state (labels and numbers of the 2019 prototype).
    pub enum ObsState { IDLE = 0, CONFIGURING = 1, READY = 2, SCANNING = 3, PAUSED = 4, ABORTED = 5, FAULT = 6 }
}

tango_enum! {
    /// Administrative mode, SDP numbering (OFFLINE is 0 here, unlike lmc-base-classes).
    pub enum AdminMode { OFFLINE = 0, ONLINE = 1, MAINTENANCE = 2, NOT_FITTED = 3, RESERVED = 4 }
}

tango_enum! {
    pub enum HealthState { OK = 0, DEGRADED = 1, FAILED = 2, UNKNOWN = 3 }
}

/// The commands the machine knows (the subarray's obsState-changing commands).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    AssignResources,
    ReleaseResources,
    Configure,
    ConfigureScan,
    StartScan,
    Scan,
    EndScan,
    EndSB,
}

impl Command {
    pub const ALL: [Command; 8] = [
        Command::AssignResources,
        Command::ReleaseResources,
        Command::Configure,
        Command::ConfigureScan,
        Command::StartScan,
        Command::Scan,
        Command::EndScan,
        Command::EndSB,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Command::AssignResources => "AssignResources",
            Command::ReleaseResources => "ReleaseResources",
            Command::Configure => "Configure",
            Command::ConfigureScan => "ConfigureScan",
            Command::StartScan => "StartScan",
            Command::Scan => "Scan",
            Command::EndScan => "EndScan",
            Command::EndSB => "EndSB",
        }
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

pub const ALL_OBS_STATES: [ObsState; 7] =
    [ObsState::IDLE, ObsState::CONFIGURING, ObsState::READY, ObsState::SCANNING, ObsState::PAUSED, ObsState::ABORTED, ObsState::FAULT];

pub const ALL_ADMIN_MODES: [AdminMode; 5] =
    [AdminMode::OFFLINE, AdminMode::ONLINE, AdminMode::MAINTENANCE, AdminMode::NOT_FITTED, AdminMode::RESERVED];

/// adminModes in which resources may be assigned.
const ASSIGNABLE: &[AdminMode] = &[AdminMode::ONLINE, AdminMode::MAINTENANCE, AdminMode::RESERVED];

/// The extra condition of a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// No condition beyond the obsState.
    None,
    /// adminMode must be one of these.
    AdminIn(&'static [AdminMode]),
}

impl Guard {
    pub fn holds(self, admin: AdminMode) -> bool {
        match self {
            Guard::None => true,
            Guard::AdminIn(ok) => ok.contains(&admin),
        }
    }

    fn label(self) -> Option<String> {
        match self {
            Guard::None => None,
            Guard::AdminIn(ok) => Some(format!("adminMode in {}", join(ok))),
        }
    }
}

/// One row of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: ObsState,
    pub command: Command,
    pub guard: Guard,
    /// The state the subarray is in while the command works (shown in the diagram; a failed
    /// command returns to `from`).
    pub via: Option<ObsState>,
    pub to: ObsState,
    /// The Tango State after success; `None` = unchanged.
    pub state: Option<DevState>,
}

const fn t(from: ObsState, command: Command, guard: Guard, via: Option<ObsState>, to: ObsState, state: Option<DevState>) -> Transition {
    Transition { from, command, guard, via, to, state }
}

use Command as C;
use ObsState as S;

/// The machine. Every (obsState, command) pair not listed here is refused with
/// `API_CommandNotAllowed` and changes nothing. PAUSED, ABORTED and FAULT have no way out
/// but `Init` (or, in test mode, writing obsState): the 0.5.19 interface has no
/// Abort/Reset commands.
pub const TRANSITIONS: &[Transition] = &[
    t(S::IDLE, C::AssignResources, Guard::AdminIn(ASSIGNABLE), None, S::IDLE, Some(DevState::ON)),
    t(S::IDLE, C::ReleaseResources, Guard::AdminIn(ASSIGNABLE), None, S::IDLE, Some(DevState::OFF)),
    t(S::IDLE, C::Configure, Guard::None, Some(S::CONFIGURING), S::READY, Some(DevState::ON)),
    t(S::READY, C::ConfigureScan, Guard::None, Some(S::CONFIGURING), S::READY, None),
    t(S::READY, C::StartScan, Guard::None, None, S::SCANNING, None),
    t(S::READY, C::Scan, Guard::None, None, S::SCANNING, Some(DevState::ON)),
    t(S::SCANNING, C::EndScan, Guard::None, None, S::READY, None),
    t(S::READY, C::EndSB, Guard::None, None, S::IDLE, None),
];

/// The row for (`from`, `command`), if the command is defined in that obsState at all.
pub fn lookup(from: ObsState, command: Command) -> Option<&'static Transition> {
    TRANSITIONS.iter().find(|t| t.from == from && t.command == command)
}

/// obsStates in which `command` is allowed.
pub fn allowed_states(command: Command) -> Vec<ObsState> {
    ALL_OBS_STATES.iter().copied().filter(|s| lookup(*s, command).is_some()).collect()
}

pub(crate) fn join<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")
}

/// Why a command was refused (turned into `API_CommandNotAllowed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    ObsState { command: Command, current: ObsState, allowed: Vec<ObsState> },
    AdminMode { command: Command, current: AdminMode, allowed: Vec<AdminMode> },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::ObsState { command, current, allowed } => refusal_text(f, command, "obsState", current, &join(allowed)),
            Refusal::AdminMode { command, current, allowed } => refusal_text(f, command, "adminMode", current, &join(allowed)),
        }
    }
}

impl Refusal {
    pub fn to_dev_failed(&self, device_class: &str) -> DevFailed {
        let cmd = match self {
            Refusal::ObsState { command, .. } | Refusal::AdminMode { command, .. } => *command,
        };
        not_allowed(device_class, cmd, self)
    }
}

/// The words of every refusal, both tables alike: `Command X not allowed when <what> is
/// <current>; it is allowed when <what> is <allowed>`.
pub(crate) fn refusal_text(
    f: &mut std::fmt::Formatter<'_>,
    command: &dyn std::fmt::Display,
    what: &str,
    current: &dyn std::fmt::Display,
    allowed: &str,
) -> std::fmt::Result {
    write!(f, "Command {command} not allowed when {what} is {current}; it is allowed when {what} is {allowed}")
}

/// A refusal as Tango reports it (`API_CommandNotAllowed` from `<class>.is_<command>_allowed`).
pub(crate) fn not_allowed(device_class: &str, command: impl std::fmt::Display, refusal: &impl std::fmt::Display) -> DevFailed {
    DevFailed::new("API_CommandNotAllowed", refusal.to_string(), format!("{device_class}.is_{command}_allowed"))
}

/// Decide whether `command` may run now: obsState first, then the adminMode guard.
pub fn check(obs: ObsState, admin: AdminMode, command: Command) -> Result<&'static Transition, Refusal> {
    let row = lookup(obs, command).ok_or_else(|| Refusal::ObsState { command, current: obs, allowed: allowed_states(command) })?;
    if !row.guard.holds(admin) {
        let allowed = match row.guard {
            Guard::AdminIn(ok) => ok.to_vec(),
            Guard::None => ALL_ADMIN_MODES.to_vec(),
        };
        return Err(Refusal::AdminMode { command, current: admin, allowed });
    }
    Ok(row)
}

/// The machine as a Mermaid state diagram (what `SDPSubarray --print-fsm` prints and
/// `docs/obsstate-fsm.md` holds).
pub fn mermaid() -> String {
    let mut out = String::new();
    out.push_str("stateDiagram-v2\n");
    out.push_str("    %% generated from sdp_devices::fsm::TRANSITIONS by `SDPSubarray --print-fsm`; do not edit\n");
    out.push_str("    [*] --> IDLE: start / Init\n");
    let mut via_edges: Vec<(ObsState, ObsState, String)> = Vec::new();
    for row in TRANSITIONS {
        let mut label = row.command.to_string();
        if let Some(g) = row.guard.label() {
            label.push_str(&format!(" [{g}]"));
        }
        if let Some(s) = row.state {
            label.push_str(&format!(" / State {s}"));
        }
        match row.via {
            None => out.push_str(&format!("    {} --> {}: {}\n", row.from, row.to, label)),
            Some(via) => {
                out.push_str(&format!("    {} --> {}: {}\n", row.from, via, label));
                via_edges.push((via, row.to, format!("{} done", row.command)));
                via_edges.push((via, row.from, format!("{} failed (nothing changed)", row.command)));
            }
        }
    }
    for (a, b, label) in via_edges {
        out.push_str(&format!("    {a} --> {b}: {label}\n"));
    }
    for s in ALL_OBS_STATES {
        if !TRANSITIONS.iter().any(|t| t.from == s || t.to == s || t.via == Some(s)) {
            out.push_str(&format!("    {s}: {s} (left only by Init, or by writing obsState in test mode)\n"));
        }
    }
    out
}

/// The Markdown page committed as `docs/obsstate-fsm.md`.
pub fn markdown() -> String {
    let mut out = String::new();
    out.push_str("# SDPSubarray obsState machine\n\n");
    out.push_str("Generated from the transition table `TRANSITIONS` in `devices/src/fsm.rs` by\n");
    out.push_str("`SDPSubarray --print-fsm --markdown`; a test fails when this page is out of date.\n");
    out.push_str("Any (obsState, command) pair not shown is refused with `API_CommandNotAllowed`\n");
    out.push_str("(\"Command StartScan not allowed when obsState is IDLE; …\") and changes nothing.\n\n");
    out.push_str("```mermaid\n");
    out.push_str(&mermaid());
    out.push_str("```\n\n");
    let rows = TRANSITIONS.iter().map(|r| {
        vec![r.from.to_string(), r.command.to_string(), or_dash(r.guard.label()), or_dash(r.via), r.to.to_string(), state_after(r.state)]
    });
    out.push_str(&table(&["obsState", "command", "guard", "while running", "next obsState", "State after"], rows));
    out
}

/// A Markdown table (the diagrams' pages, both tables alike).
pub(crate) fn table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
    let mut out = line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for r in rows {
        out.push_str(&line(&r));
    }
    out
}

/// A cell that may be empty: `–` then.
pub(crate) fn or_dash(v: Option<impl std::fmt::Display>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "–".into())
}

/// The "State after" cell.
pub(crate) fn state_after(s: Option<DevState>) -> String {
    s.map(|s| s.to_string()).unwrap_or_else(|| "unchanged".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the table must say, written out independently: (state, command) -> next.
    fn expected(from: ObsState, cmd: Command) -> Option<(ObsState, Option<DevState>)> {
        use DevState::*;
        match (from, cmd) {
            (S::IDLE, C::AssignResources) => Some((S::IDLE, Some(ON))),
            (S::IDLE, C::ReleaseResources) => Some((S::IDLE, Some(OFF))),
            (S::IDLE, C::Configure) => Some((S::READY, Some(ON))),
            (S::READY, C::ConfigureScan) => Some((S::READY, None)),
            (S::READY, C::StartScan) => Some((S::SCANNING, None)),
            (S::READY, C::Scan) => Some((S::SCANNING, Some(ON))),
            (S::SCANNING, C::EndScan) => Some((S::READY, None)),
            (S::READY, C::EndSB) => Some((S::IDLE, None)),
            _ => None,
        }
    }

    #[test]
    fn every_state_command_pair() {
        let mut allowed = 0;
        for s in ALL_OBS_STATES {
            for c in Command::ALL {
                let got = check(s, AdminMode::ONLINE, c);
                match expected(s, c) {
                    Some((to, state)) => {
                        let row = got.unwrap_or_else(|e| panic!("{c} in {s} must be allowed: {e}"));
                        assert_eq!((row.to, row.state), (to, state), "{c} in {s}");
                        allowed += 1;
                    }
                    None => {
                        let e = got.expect_err(&format!("{c} in {s} must be refused"));
                        let text = e.to_string();
                        assert!(text.starts_with(&format!("Command {c} not allowed when obsState is {s}")), "{text}");
                        let df = e.to_dev_failed("SDPSubarray");
                        assert_eq!(df.errors[0].reason, "API_CommandNotAllowed");
                    }
                }
            }
        }
        assert_eq!(allowed, TRANSITIONS.len());
        assert_eq!(ALL_OBS_STATES.len() * Command::ALL.len(), 56);
    }

    #[test]
    fn the_issue_wording() {
        let e = check(S::IDLE, AdminMode::ONLINE, C::StartScan).unwrap_err();
        assert!(e.to_string().starts_with("Command StartScan not allowed when obsState is IDLE"));
        assert!(e.to_string().ends_with("allowed when obsState is READY"), "{e}");
    }

    #[test]
    fn admin_mode_guards_every_pair() {
        for s in ALL_OBS_STATES {
            for c in Command::ALL {
                for a in ALL_ADMIN_MODES {
                    let got = check(s, a, c);
                    let Some(_) = expected(s, c) else {
                        // obsState is checked first: the refusal names obsState whatever the adminMode
                        assert!(matches!(got, Err(Refusal::ObsState { .. })));
                        continue;
                    };
                    let gated = matches!(c, C::AssignResources | C::ReleaseResources);
                    let ok = !gated || matches!(a, AdminMode::ONLINE | AdminMode::MAINTENANCE | AdminMode::RESERVED);
                    assert_eq!(got.is_ok(), ok, "{c} in {s} with adminMode {a}");
                    if !ok {
                        let text = got.unwrap_err().to_string();
                        assert!(text.starts_with(&format!("Command {c} not allowed when adminMode is {a}")), "{text}");
                    }
                }
            }
        }
    }

    #[test]
    fn table_has_no_duplicate_rows() {
        for (i, a) in TRANSITIONS.iter().enumerate() {
            for b in &TRANSITIONS[i + 1..] {
                assert!(!(a.from == b.from && a.command == b.command), "{} in {} listed twice", a.command, a.from);
            }
        }
    }

    #[test]
    fn enum_numbering_is_the_2019_one() {
        use tango::TangoEnum;
        assert_eq!(ObsState::LABELS, ["IDLE", "CONFIGURING", "READY", "SCANNING", "PAUSED", "ABORTED", "FAULT"]);
        assert_eq!(AdminMode::LABELS, ["OFFLINE", "ONLINE", "MAINTENANCE", "NOT_FITTED", "RESERVED"]);
        assert_eq!(HealthState::LABELS, ["OK", "DEGRADED", "FAILED", "UNKNOWN"]);
        assert_eq!(AdminMode::parse("online"), Some(AdminMode::ONLINE));
        assert_eq!(AdminMode::parse("0"), Some(AdminMode::OFFLINE));
    }

    #[test]
    fn committed_diagram_is_current() {
        let committed = include_str!("../../docs/obsstate-fsm.md");
        assert!(
            committed == markdown(),
            "docs/obsstate-fsm.md is out of date: run `cargo run -p sdp-devices --bin SDPSubarray -- --print-fsm --markdown > docs/obsstate-fsm.md`"
        );
    }
}
