//! The ADR-8 interface profile: what a current TMC drives (its SDP subarray leaf node and SDP
//! master leaf node), beside the 2019 interface, which stays the default.
//!
//! A deployment chooses the profile: `--interface adr8` on the server's command line,
//! `SDP_INTERFACE_PROFILE=adr8`, or the device (or class) property `InterfaceProfile` = `adr8`
//! in the Tango database ([`profile_of_server`]); `sdp up --interface adr8` and the chart value
//! `interfaceProfile` set them. A server serves one profile: its class description (commands,
//! attributes, enumerations) is fixed when it starts.
//!
//! * [`args`]: the telescope-model arguments, parsed once, with one error type;
//! * [`subarray`]: `SDPSubarray` (`mid-sdp/subarray/01` …) on the state table
//!   [`crate::fsm::adr8`], writing execution blocks;
//! * [`controller`]: `SDPController` (`mid-sdp/control/0`).

pub mod args;
pub mod controller;
pub mod subarray;

use std::sync::Arc;

use tango::device::{AttrDef, Outbox};
use tango::{Attr, Device};

use crate::cfgdb::{ConfigDb, DbSetting, Follow, Link, Monitor};
use crate::health::{self, DbSeen, Health};

/// The device property (and chart value) that chooses the profile.
pub const PROPERTY: &str = "InterfaceProfile";

/// An interface profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// The 2019 prototype's interface (subarray 0.5.19, master 0.2.6).
    #[default]
    V2019,
    /// ADR-8 obsState, execution blocks, telescope-model JSON.
    Adr8,
}

impl Profile {
    pub fn parse(s: &str) -> Option<Profile> {
        match s.trim().to_ascii_lowercase().as_str() {
            "2019" | "" | "default" => Some(Profile::V2019),
            "adr8" | "adr-8" => Some(Profile::Adr8),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Profile::V2019 => "2019",
            Profile::Adr8 => "adr8",
        }
    }
}

/// The profile a server runs: `--interface <p>` (removed from `args`), else
/// `SDP_INTERFACE_PROFILE`, else (Tango DB mode) the `InterfaceProfile` property of the
/// server's devices or their class. Devices of one server that disagree, or a value that is
/// not a profile, are an error (the server must not guess). A Tango database that does not
/// answer at start counts as no property (2019): `sdp up` and the chart therefore also pass the
/// profile on the command line / in the environment.
pub fn profile_of_server(exec: &str, class: &str, args: &mut Vec<String>) -> Result<Profile, String> {
    let bad = |v: &str, from: &str| format!("{from} = {v:?} is not an interface profile (2019 or adr8)");
    if let Some(i) = args.iter().position(|a| a == "--interface") {
        let v = args.get(i + 1).cloned().ok_or("--interface needs a value (2019 or adr8)")?;
        args.drain(i..=i + 1);
        return Profile::parse(&v).ok_or_else(|| bad(&v, "--interface"));
    }
    if let Ok(v) = std::env::var("SDP_INTERFACE_PROFILE") {
        return Profile::parse(&v).ok_or_else(|| bad(&v, "SDP_INTERFACE_PROFILE"));
    }
    if args.iter().any(|a| a == "-nodb") {
        return Ok(Profile::V2019);
    }
    let Some(instance) = args.iter().find(|a| !a.starts_with('-')) else { return Ok(Profile::V2019) };
    let values = crate::subarray::server_property(exec, class, instance, PROPERTY);
    let mut found: Option<Profile> = None;
    for v in values {
        let p = Profile::parse(&v).ok_or_else(|| bad(&v, PROPERTY))?;
        if found.is_some_and(|f| f != p) {
            return Err(format!("the devices of {exec}/{instance} ask for different {PROPERTY} values; one server serves one profile"));
        }
        found = Some(p);
    }
    // registered under the other profile's class: that class's property counts too
    Ok(found.unwrap_or_default())
}

/// The `adminMode` attribute of the ADR-8 devices (ska-control-model numbers), read and
/// written through `get`/`set`, pushing change and archive events from the device.
pub fn admin_mode_attribute<D: Device>(
    get: impl Fn(&D) -> crate::fsm::adr8::AdminMode + Send + Sync + 'static,
    set: impl Fn(&mut D, crate::fsm::adr8::AdminMode) -> &mut Outbox + Send + Sync + 'static,
) -> AttrDef<D, crate::fsm::adr8::AdminMode> {
    Attr::new("adminMode")
        .read(get)
        .write(move |d: &mut D, v| {
            let outbox = set(d, v);
            outbox.push_change("adminMode", v);
            outbox.push_archive("adminMode", v);
            Ok(())
        })
        .description("Administration mode (ska-control-model: ONLINE 0, OFFLINE 1, ENGINEERING 2, NOT_FITTED 3, RESERVED 4)")
        .abs_change(1)
        .archive_abs_change(1)
        .memorized()
}

/// What the ADR-8 devices of a server share: the configuration DB and what is seen of it,
/// including every component's liveness (AssignResources needs the processing controller
/// and a deployer; the controller device reports them).
#[derive(Debug)]
pub struct Services {
    pub link: Link,
    /// Devices created once already: later creations are `Init`s.
    pub created: crate::restore::Created,
}

impl Services {
    pub fn new(setting: DbSetting) -> Arc<Services> {
        let link = Link::new(setting, Monitor::Components);
        if link.db.is_none() {
            eprintln!("ADR-8 devices: no configuration DB ({}): AssignResources is refused", link.off);
        }
        Arc::new(Services { link, created: Default::default() })
    }

    /// The configuration DB, if there is one.
    pub fn db(&self) -> Option<Arc<ConfigDb>> {
        self.link.db.clone()
    }

    pub fn from_env() -> Arc<Services> {
        Services::new(DbSetting::from_env())
    }

    /// Whether the processing controller and a deployer are alive (the master's verdict).
    pub fn components(&self) -> Health {
        health::master(&self.link.seen.borrow())
    }

    /// What the configuration DB looks like to a subarray.
    pub fn db_health(&self) -> Health {
        health::subarray(&self.link.seen.borrow())
    }

    /// The latest observation (for the controller's `components` attribute).
    pub fn seen(&self) -> DbSeen {
        self.link.seen.borrow().clone()
    }

    /// Follow `verdict` on what the server sees of the configuration DB; when it changes, run
    /// `publish` on the device through its handle, so healthState events come from the device
    /// at once. Ends when the server stops or `Init` replaces the device (whose new instance
    /// follows it again).
    pub fn follow_health<D: Device>(
        &self,
        name: &str,
        verdict: fn(&DbSeen) -> Health,
        handle: tango::handle::DeviceHandle<D>,
        publish: fn(&mut D, Health),
    ) -> Option<Follow> {
        let db = self.db()?;
        let (mut seen, name) = (self.link.seen.clone(), name.to_string());
        Some(db.spawn(async move {
            let mut last = verdict(&seen.borrow_and_update());
            while seen.changed().await.is_ok() {
                let now = verdict(&seen.borrow_and_update());
                if now != last {
                    last = now.clone();
                    if let Err(e) = handle.run_async(move |d: &mut D| publish(d, now)).await {
                        tracing::debug!("{name}: health no longer followed ({e})");
                        break;
                    }
                }
            }
        }))
    }
}
