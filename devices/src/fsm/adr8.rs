//! The subarray's observing-state machine of the ADR-8 interface (what a current TMC drives),
//! as data: the second table beside the 2019 one in [`crate::fsm`].
//!
//! Numbering as SKA defines it since 2020: obsState EMPTY 0 … RESTARTING 10 (ADR-8) and
//! adminMode ONLINE 0, OFFLINE 1, ENGINEERING 2, NOT_FITTED 3, RESERVED 4 (ska-control-model).
//!
//! The machine has two layers, both in [`TRANSITIONS`]:
//! * the Tango State: the device starts OFF with obsState EMPTY; `On` turns it ON; `Off`
//!   turns it OFF from any obsState and empties it; in State OFF every command but `On` is
//!   refused;
//! * the obsState, in State ON. A row with `via` passes through that state while the command
//!   works (the device pushes it as an event, however short). `AssignResources` ends in
//!   RESOURCING: the subarray leaves it by an internal event, when the receive processing
//!   block has published its receive addresses (at once when there is none) or to FAULT when a
//!   processing block fails. Internal failures (the configuration DB lost mid-command) lead to
//!   FAULT from any obsState.
//!
//! Handlers, `is_allowed` guards and the diagram `docs/obsstate-fsm-adr8.md` all read the table.

use tango::{tango_enum, DevFailed, DevState};

use super::{join, not_allowed, or_dash, refusal_text, state_after, table};

tango_enum! {
    /// Observing state (ADR-8 labels and numbers).
    pub enum ObsState {
        EMPTY = 0, RESOURCING = 1, IDLE = 2, CONFIGURING = 3, READY = 4, SCANNING = 5,
        ABORTING = 6, ABORTED = 7, RESETTING = 8, FAULT = 9, RESTARTING = 10
    }
}

tango_enum! {
    /// Administrative mode, ska-control-model numbering (ONLINE is 0 here, unlike the 2019 SDP).
    pub enum AdminMode { ONLINE = 0, OFFLINE = 1, ENGINEERING = 2, NOT_FITTED = 3, RESERVED = 4 }
}

pub const ALL_OBS_STATES: [ObsState; 11] = [
    ObsState::EMPTY,
    ObsState::RESOURCING,
    ObsState::IDLE,
    ObsState::CONFIGURING,
    ObsState::READY,
    ObsState::SCANNING,
    ObsState::ABORTING,
    ObsState::ABORTED,
    ObsState::RESETTING,
    ObsState::FAULT,
    ObsState::RESTARTING,
];

pub const ALL_ADMIN_MODES: [AdminMode; 5] =
    [AdminMode::ONLINE, AdminMode::OFFLINE, AdminMode::ENGINEERING, AdminMode::NOT_FITTED, AdminMode::RESERVED];

/// What moves the machine: a Tango command, or something the subarray observes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    On,
    Off,
    AssignResources,
    ReleaseResources,
    ReleaseAllResources,
    Configure,
    Scan,
    EndScan,
    End,
    Abort,
    ObsReset,
    Restart,
    /// Internal: the receive addresses are published (or the EB needs none).
    ResourcesReady,
    /// Internal: a processing block failed, or the configuration DB failed mid-command.
    Failure,
}

impl Event {
    /// The Tango commands, in the order the device declares them.
    pub const COMMANDS: [Event; 12] = [
        Event::On,
        Event::Off,
        Event::AssignResources,
        Event::ReleaseResources,
        Event::ReleaseAllResources,
        Event::Configure,
        Event::Scan,
        Event::EndScan,
        Event::End,
        Event::Abort,
        Event::ObsReset,
        Event::Restart,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Event::On => "On",
            Event::Off => "Off",
            Event::AssignResources => "AssignResources",
            Event::ReleaseResources => "ReleaseResources",
            Event::ReleaseAllResources => "ReleaseAllResources",
            Event::Configure => "Configure",
            Event::Scan => "Scan",
            Event::EndScan => "EndScan",
            Event::End => "End",
            Event::Abort => "Abort",
            Event::ObsReset => "ObsReset",
            Event::Restart => "Restart",
            Event::ResourcesReady => "receive addresses published",
            Event::Failure => "internal failure",
        }
    }

    pub fn is_command(self) -> bool {
        Event::COMMANDS.contains(&self)
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The Tango State a row needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// State OFF (only `On`).
    Off,
    /// State ON (every other command and event).
    On,
}

/// adminModes in which resources may be assigned.
pub const ASSIGNABLE: &[AdminMode] = &[AdminMode::ONLINE, AdminMode::ENGINEERING];

/// One row: in State `needs`, from any of `from`, `event` (if adminMode is in `admin`) leads
/// through `via` to `to`, and sets the Tango State to `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub needs: Needs,
    pub from: &'static [ObsState],
    pub event: Event,
    pub admin: Option<&'static [AdminMode]>,
    pub via: Option<ObsState>,
    pub to: ObsState,
    pub state: Option<DevState>,
}

use Event as E;
use ObsState as S;

const fn on(from: &'static [ObsState], event: Event, via: Option<ObsState>, to: ObsState) -> Transition {
    Transition { needs: Needs::On, from, event, admin: None, via, to, state: None }
}

/// Every obsState.
const ANY: &[ObsState] = &ALL_OBS_STATES;
/// Where Abort is accepted (ADR-8 and what TMC sends: also RESOURCING).
const ABORTABLE: &[ObsState] = &[S::RESOURCING, S::IDLE, S::CONFIGURING, S::READY, S::SCANNING, S::RESETTING];
/// Where an internal failure can strike: every state where the subarray works or waits.
const FAILABLE: &[ObsState] =
    &[S::RESOURCING, S::IDLE, S::CONFIGURING, S::READY, S::SCANNING, S::ABORTING, S::ABORTED, S::RESETTING, S::RESTARTING];

/// The machine. Any (State, obsState, command) not listed is refused with
/// `API_CommandNotAllowed` and changes nothing.
pub const TRANSITIONS: &[Transition] = &[
    Transition { needs: Needs::Off, from: &[S::EMPTY], event: E::On, admin: None, via: None, to: S::EMPTY, state: Some(DevState::ON) },
    Transition { needs: Needs::On, from: ANY, event: E::Off, admin: None, via: None, to: S::EMPTY, state: Some(DevState::OFF) },
    Transition {
        needs: Needs::On,
        from: &[S::EMPTY, S::IDLE],
        event: E::AssignResources,
        admin: Some(ASSIGNABLE),
        via: None,
        to: S::RESOURCING,
        state: None,
    },
    on(&[S::RESOURCING], E::ResourcesReady, None, S::IDLE),
    on(&[S::IDLE], E::ReleaseResources, None, S::EMPTY),
    on(&[S::IDLE], E::ReleaseAllResources, None, S::EMPTY),
    on(&[S::IDLE, S::READY], E::Configure, Some(S::CONFIGURING), S::READY),
    on(&[S::READY], E::Scan, None, S::SCANNING),
    on(&[S::SCANNING], E::EndScan, None, S::READY),
    on(&[S::READY], E::End, None, S::IDLE),
    on(ABORTABLE, E::Abort, Some(S::ABORTING), S::ABORTED),
    on(&[S::ABORTED, S::FAULT], E::ObsReset, Some(S::RESETTING), S::IDLE),
    on(&[S::ABORTED, S::FAULT], E::Restart, Some(S::RESTARTING), S::EMPTY),
    on(FAILABLE, E::Failure, None, S::FAULT),
];

fn needs_of(state: DevState) -> Needs {
    if state == DevState::OFF {
        Needs::Off
    } else {
        Needs::On
    }
}

/// The row for `event` in (`state`, `obs`), ignoring adminMode.
pub fn lookup(state: DevState, obs: ObsState, event: Event) -> Option<&'static Transition> {
    TRANSITIONS.iter().find(|t| t.event == event && t.needs == needs_of(state) && t.from.contains(&obs))
}

/// Why an event was refused (turned into `API_CommandNotAllowed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    State { event: Event, current: DevState },
    ObsState { event: Event, current: ObsState, allowed: Vec<ObsState> },
    AdminMode { event: Event, current: AdminMode, allowed: Vec<AdminMode> },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::State { event, current } => {
                let wanted = match TRANSITIONS.iter().find(|t| t.event == *event).map(|t| t.needs) {
                    Some(Needs::Off) => "OFF",
                    _ => "ON (send On first)",
                };
                refusal_text(f, event, "State", current, wanted)
            }
            Refusal::ObsState { event, current, allowed } => refusal_text(f, event, "obsState", current, &join(allowed)),
            Refusal::AdminMode { event, current, allowed } => refusal_text(f, event, "adminMode", current, &join(allowed)),
        }
    }
}

impl Refusal {
    pub fn to_dev_failed(&self, device_class: &str) -> DevFailed {
        let event = match self {
            Refusal::State { event, .. } | Refusal::ObsState { event, .. } | Refusal::AdminMode { event, .. } => *event,
        };
        not_allowed(device_class, event, self)
    }
}

/// Decide whether `event` may happen now: State first, then obsState, then adminMode.
pub fn check(state: DevState, obs: ObsState, admin: AdminMode, event: Event) -> Result<&'static Transition, Refusal> {
    if !TRANSITIONS.iter().any(|t| t.event == event && t.needs == needs_of(state)) {
        return Err(Refusal::State { event, current: state });
    }
    let row = lookup(state, obs, event).ok_or_else(|| Refusal::ObsState {
        event,
        current: obs,
        allowed: ALL_OBS_STATES.iter().copied().filter(|s| lookup(state, *s, event).is_some()).collect(),
    })?;
    if let Some(ok) = row.admin {
        if !ok.contains(&admin) {
            return Err(Refusal::AdminMode { event, current: admin, allowed: ok.to_vec() });
        }
    }
    Ok(row)
}

/// The machine as a Mermaid state diagram (`SDPSubarray --print-fsm --interface adr8`).
pub fn mermaid() -> String {
    let mut out = String::from("stateDiagram-v2\n");
    out.push_str("    %% generated from sdp_devices::fsm::adr8::TRANSITIONS by `SDPSubarray --print-fsm --interface adr8`; do not edit\n");
    out.push_str("    [*] --> EMPTY: start (State OFF)\n");
    let mut done_edges = Vec::new();
    for row in TRANSITIONS {
        let mut label = row.event.to_string();
        if row.needs == Needs::Off {
            label.push_str(" [State OFF]");
        }
        if let Some(ok) = row.admin {
            label.push_str(&format!(" [adminMode in {}]", join(ok)));
        }
        if let Some(s) = row.state {
            label.push_str(&format!(" / State {s}"));
        }
        if row.from.len() == ALL_OBS_STATES.len() {
            out.push_str(&format!("    note left of EMPTY: {label} from any obsState leads to {}\n", row.to));
            continue;
        }
        let target = row.via.unwrap_or(row.to);
        for from in row.from {
            out.push_str(&format!("    {from} --> {target}: {label}\n"));
        }
        if let Some(via) = row.via {
            let edge = format!("    {via} --> {}: {} done\n", row.to, row.event);
            if !done_edges.contains(&edge) {
                done_edges.push(edge);
            }
        }
    }
    for e in done_edges {
        out.push_str(&e);
    }
    out
}

/// The Markdown page committed as `docs/obsstate-fsm-adr8.md`.
pub fn markdown() -> String {
    let mut out = String::new();
    out.push_str("# SDPSubarray obsState machine, ADR-8 interface (`InterfaceProfile` adr8)\n\n");
    out.push_str("Generated from the transition table `TRANSITIONS` in `devices/src/fsm/adr8.rs` by\n");
    out.push_str("`SDPSubarray --print-fsm --interface adr8 --markdown`; a test fails when this page is out of date.\n");
    out.push_str("Any (State, obsState, command) not shown is refused with `API_CommandNotAllowed` and changes nothing;\n");
    out.push_str("in State OFF only `On` is accepted. Events in lower case are observed by the subarray, not sent to it.\n\n");
    out.push_str("```mermaid\n");
    out.push_str(&mermaid());
    out.push_str("```\n\n");
    let rows = TRANSITIONS.iter().map(|r| {
        let from = if r.from.len() == ALL_OBS_STATES.len() { "any".to_string() } else { join(r.from) };
        let needs = if r.needs == Needs::Off { "OFF" } else { "ON" };
        let guard = r.admin.map(|a| format!("adminMode in {}", join(a)));
        vec![needs.to_string(), from, r.event.to_string(), or_dash(guard), or_dash(r.via), r.to.to_string(), state_after(r.state)]
    });
    out.push_str(&table(&["State", "obsState", "event", "guard", "while running", "next obsState", "State after"], rows));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tango::TangoEnum;

    /// What the table must say, written out independently from the issue's list:
    /// (obsState, command) in State ON -> (via, next).
    fn expected_on(from: ObsState, e: Event) -> Option<(Option<ObsState>, ObsState)> {
        use S::*;
        match (from, e) {
            (_, E::Off) => Some((None, EMPTY)),
            (EMPTY | IDLE, E::AssignResources) => Some((None, RESOURCING)),
            (RESOURCING, E::ResourcesReady) => Some((None, IDLE)),
            (IDLE, E::ReleaseResources | E::ReleaseAllResources) => Some((None, EMPTY)),
            (IDLE | READY, E::Configure) => Some((Some(CONFIGURING), READY)),
            (READY, E::Scan) => Some((None, SCANNING)),
            (SCANNING, E::EndScan) => Some((None, READY)),
            (READY, E::End) => Some((None, IDLE)),
            (RESOURCING | IDLE | CONFIGURING | READY | SCANNING | RESETTING, E::Abort) => Some((Some(ABORTING), ABORTED)),
            (ABORTED | FAULT, E::ObsReset) => Some((Some(RESETTING), IDLE)),
            (ABORTED | FAULT, E::Restart) => Some((Some(RESTARTING), EMPTY)),
            (EMPTY | FAULT, E::Failure) => None,
            (_, E::Failure) => Some((None, FAULT)),
            _ => None,
        }
    }

    const EVENTS: [Event; 14] = [
        E::On,
        E::Off,
        E::AssignResources,
        E::ReleaseResources,
        E::ReleaseAllResources,
        E::Configure,
        E::Scan,
        E::EndScan,
        E::End,
        E::Abort,
        E::ObsReset,
        E::Restart,
        E::ResourcesReady,
        E::Failure,
    ];

    #[test]
    fn every_state_obs_state_event_triple() {
        let mut allowed = 0;
        for s in ALL_OBS_STATES {
            for e in EVENTS {
                let got = check(DevState::ON, s, AdminMode::ONLINE, e);
                match expected_on(s, e) {
                    Some((via, to)) => {
                        let row = got.unwrap_or_else(|r| panic!("{e} in {s} must be allowed: {r}"));
                        assert_eq!((row.via, row.to), (via, to), "{e} in {s}");
                        allowed += 1;
                    }
                    None => {
                        let r = got.expect_err(&format!("{e} in {s} must be refused"));
                        if e == E::On {
                            assert_eq!(r.to_string(), "Command On not allowed when State is ON; it is allowed when State is OFF");
                        } else {
                            assert!(r.to_string().starts_with(&format!("Command {e} not allowed when obsState is {s}")), "{r}");
                        }
                        assert_eq!(r.to_dev_failed("SDPSubarray").errors[0].reason, "API_CommandNotAllowed");
                    }
                }
                // State OFF: only On
                let off = check(DevState::OFF, s, AdminMode::ONLINE, e);
                match (e, s) {
                    (E::On, S::EMPTY) => assert_eq!(off.unwrap().state, Some(DevState::ON)),
                    (E::On, _) => assert!(matches!(off, Err(Refusal::ObsState { .. }))),
                    _ => assert_eq!(
                        off.unwrap_err().to_string(),
                        format!("Command {e} not allowed when State is OFF; it is allowed when State is ON (send On first)")
                    ),
                }
            }
        }
        let rows: usize = TRANSITIONS.iter().filter(|t| t.needs == Needs::On).map(|t| t.from.len()).sum();
        assert_eq!(allowed, rows);
        assert_eq!(check(DevState::ON, S::SCANNING, AdminMode::ONLINE, E::Off).unwrap().state, Some(DevState::OFF));
    }

    #[test]
    fn admin_mode_guards_assign_resources_only() {
        for a in ALL_ADMIN_MODES {
            let ok = matches!(a, AdminMode::ONLINE | AdminMode::ENGINEERING);
            let got = check(DevState::ON, S::EMPTY, a, E::AssignResources);
            assert_eq!(got.is_ok(), ok, "{a}");
            if !ok {
                assert_eq!(
                    got.unwrap_err().to_string(),
                    format!(
                        "Command AssignResources not allowed when adminMode is {a}; it is allowed when adminMode is ONLINE, ENGINEERING"
                    )
                );
            }
            assert!(check(DevState::ON, S::IDLE, a, E::ReleaseAllResources).is_ok());
        }
    }

    #[test]
    fn no_two_rows_for_one_triple() {
        for (i, a) in TRANSITIONS.iter().enumerate() {
            for b in &TRANSITIONS[i + 1..] {
                let overlap = a.event == b.event && a.needs == b.needs && a.from.iter().any(|s| b.from.contains(s));
                assert!(!overlap, "{} listed twice", a.event);
            }
        }
    }

    #[test]
    fn numbering_is_adr8_and_ska_control_model() {
        assert_eq!(
            ObsState::LABELS,
            ["EMPTY", "RESOURCING", "IDLE", "CONFIGURING", "READY", "SCANNING", "ABORTING", "ABORTED", "RESETTING", "FAULT", "RESTARTING"]
        );
        assert_eq!(ObsState::RESTARTING.to_i16(), 10);
        assert_eq!(AdminMode::LABELS, ["ONLINE", "OFFLINE", "ENGINEERING", "NOT_FITTED", "RESERVED"]);
        assert!(Event::COMMANDS.iter().all(|c| c.is_command()) && !E::Failure.is_command());
    }

    #[test]
    fn committed_diagram_is_current() {
        let committed = include_str!("../../../docs/obsstate-fsm-adr8.md");
        assert!(
            committed == markdown(),
            "docs/obsstate-fsm-adr8.md is out of date: run `cargo run -p sdp-devices --bin SDPSubarray -- --print-fsm --interface adr8 --markdown > docs/obsstate-fsm-adr8.md`"
        );
    }
}
