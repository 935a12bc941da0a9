//! `sdp status`: one table of what runs — Tango devices with State/obsState (from the Tango
//! database at TANGO_HOST); the components (controller, deployers, workflows, device servers)
//! alive or missing with how long ago each was last seen, processing blocks with their
//! status, and deployments (from the configuration database at SDP_CONFIG_*). Exit status 1
//! when a database cannot be read or a component is missing.

use sdp_config::keys;
use std::time::Duration;

use tango::any::CmdValue;
use tango::cdr::CdrReader;
use tango::idl::{AttrData, AttributeValue_5, DevState};

pub fn run() -> i32 {
    let mut ok = true;
    println!("{:<30} {:<16} {:<10} {:<12}", "DEVICE", "SERVER", "STATE", "OBSSTATE");
    match devices() {
        Ok(rows) => {
            for r in rows {
                println!("{:<30} {:<16} {:<10} {:<12}", r.0, r.1, r.2, r.3);
            }
        }
        Err(e) => {
            ok = false;
            println!("(Tango database: {e})");
        }
    }
    println!();
    match config_rows() {
        Ok((components, pbs, deploys)) => {
            println!("{:<40} {:<14} {:<8} {:<16}", "COMPONENT", "KIND", "ALIVE", "LAST SEEN");
            for c in &components {
                let (alive, seen) = component_row(c);
                if !c.alive && c.stopped.is_none() {
                    ok = false;
                }
                println!("{:<40} {:<14} {:<8} {:<16}", c.name, c.kind, alive, seen);
            }
            println!();
            println!("{:<30} {:<36} {:<10}", "PROCESSING BLOCK", "WORKFLOW", "STATUS");
            for (id, wf, st) in pbs {
                println!("{id:<30} {wf:<36} {st:<10}");
            }
            println!();
            println!("{:<46} {:<10}", "DEPLOYMENT", "TYPE");
            for (id, ty) in deploys {
                println!("{id:<46} {ty:<10}");
            }
        }
        Err(e) => {
            ok = false;
            println!("(configuration database: {e})");
        }
    }
    if ok {
        0
    } else {
        1
    }
}

type DeviceRow = (String, String, String, String);

/// obsState labels of the 2019 interface and of ADR-8 (devices/src/fsm.rs, fsm/adr8.rs).
const OBS_STATES_2019: [&str; 7] = ["IDLE", "CONFIGURING", "READY", "SCANNING", "PAUSED", "ABORTED", "FAULT"];
const OBS_STATES_ADR8: [&str; 11] =
    ["EMPTY", "RESOURCING", "IDLE", "CONFIGURING", "READY", "SCANNING", "ABORTING", "ABORTED", "RESETTING", "FAULT", "RESTARTING"];

fn devices() -> Result<Vec<DeviceRow>, String> {
    let host = tango::dbclient::TangoHost::from_env()?;
    let db = tango::dbclient::Database::new(host).with_timeout(Duration::from_secs(2));
    let names = match db.command("DbGetDeviceExportedList", CmdValue::String("*".into())).map_err(|e| e.to_string())? {
        CmdValue::StringArray(v) => v,
        other => return Err(format!("unexpected DbGetDeviceExportedList reply {other:?}")),
    };
    let mut rows = Vec::new();
    for name in names.into_iter().filter(|n| !n.to_ascii_lowercase().starts_with("dserver/")) {
        let info = match db.import_device(&name) {
            Ok(i) => i,
            Err(e) => {
                rows.push((name, "?".into(), format!("({e})"), String::new()));
                continue;
            }
        };
        // obsState numbering of the device's interface profile (the property InterfaceProfile)
        let adr8 = db
            .device_properties(&name)
            .ok()
            .and_then(|p| p.iter().find(|(k, _)| k.eq_ignore_ascii_case("InterfaceProfile")).and_then(|(_, v)| v.first().cloned()))
            .is_some_and(|v| v.eq_ignore_ascii_case("adr8"));
        let labels: &[&str] = if adr8 { &OBS_STATES_ADR8 } else { &OBS_STATES_2019 };
        let (state, obs) = read_state(&info.ior, labels).unwrap_or_else(|e| (format!("unreachable: {e}"), String::new()));
        rows.push((name, info.server, state, obs));
    }
    Ok(rows)
}

/// State and (if the device has it) obsState, read with one `read_attributes_5`; `labels`
/// name the obsState numbers.
fn read_state(ior: &str, labels: &[&str]) -> Result<(String, String), String> {
    let ior = tango::ior::Ior::parse(ior).map_err(|e| e.to_string())?;
    let p = ior.iiop().ok_or("no IIOP profile")?;
    let mut c = tango::client::Connection::connect(&format!("{}:{}", p.host, p.port), Duration::from_secs(2)).map_err(|e| e.to_string())?;
    let reply = c
        .invoke(&p.object_key, "read_attributes_5", |w| {
            w.write_seq(&["State".to_string(), "obsState".to_string()]);
            w.write_u32(0); // DevSource DEV
            w.write_u32(0); // ClntIdent CPP
            w.write_u32(std::process::id());
        })
        .map_err(|e| e.to_string())?;
    tango::client::check_reply(&reply).map_err(|e| e.to_string())?;
    let mut r: CdrReader<'_> = reply.body();
    let values: Vec<AttributeValue_5> = r.read_seq().map_err(|e| e.to_string())?;
    let state = match values.first().map(|v| &v.value) {
        Some(AttrData::DeviceState(s)) => s.to_string(),
        _ => DevState::UNKNOWN.to_string(),
    };
    let obs = match values.get(1).map(|v| &v.value) {
        Some(AttrData::Short(v)) if !v.is_empty() => labels.get(v[0] as usize).map(|s| s.to_string()).unwrap_or_else(|| v[0].to_string()),
        _ => "-".into(),
    };
    Ok((state, obs))
}

/// The ALIVE and LAST SEEN cells: `yes`/`now`, `missing`/`12 s ago`, `stopped`/`3 min ago`.
fn component_row(c: &sdp_config::ComponentStatus) -> (&'static str, String) {
    let ago = match c.seen_ago() {
        None => "never".to_string(),
        Some(s) if s < 120.0 => format!("{s:.0} s ago"),
        Some(s) if s < 7200.0 => format!("{:.0} min ago", s / 60.0),
        Some(s) => format!("{:.1} h ago", s / 3600.0),
    };
    match (c.alive, c.stopped.is_some()) {
        (true, _) => ("yes", "now".into()),
        (false, true) => ("stopped", ago),
        (false, false) => ("missing", ago),
    }
}

/// Processing block: id, workflow (`type:id:version`), status.
type PbRow = (String, String, String);
/// Deployment: id, type.
type DeployRow = (String, String);

/// What `sdp status` shows of the configuration database.
type ConfigRows = (Vec<sdp_config::ComponentStatus>, Vec<PbRow>, Vec<DeployRow>);

fn config_rows() -> Result<ConfigRows, String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let cfg = sdp_config::Config::from_env().await.map_err(|e| e.to_string())?;
        let mut txn = cfg.txn();
        let components = txn.list_components().await.map_err(|e| e.to_string())?;
        let mut pbs = Vec::new();
        for key in txn.list_keys(keys::PB_DIR, 0).await.map_err(|e| e.to_string())? {
            let id = key.trim_start_matches(keys::PB_DIR).to_string();
            let pb: serde_json::Value =
                txn.get(&key).await.map_err(|e| e.to_string())?.and_then(|v| serde_json::from_str(&v).ok()).unwrap_or_default();
            // kind:name:version of the 2019 workflow or of an execution block's script
            let wf = match sdp_config::ProcessingBlock::from_value(&pb) {
                Ok(pb) => format!("{}:{}:{}", pb.workflow.kind, pb.workflow.id, pb.workflow.version),
                Err(_) => "?:?:?".to_string(),
            };
            let st: serde_json::Value = txn
                .get(&keys::pb_state(&id))
                .await
                .map_err(|e| e.to_string())?
                .and_then(|v| serde_json::from_str(&v).ok())
                .unwrap_or_default();
            pbs.push((id, wf, st["status"].as_str().unwrap_or("-").to_string()));
        }
        let mut deploys = Vec::new();
        for key in txn.list_keys(keys::DEPLOY_DIR, 0).await.map_err(|e| e.to_string())? {
            let d: serde_json::Value =
                txn.get(&key).await.map_err(|e| e.to_string())?.and_then(|v| serde_json::from_str(&v).ok()).unwrap_or_default();
            deploys.push((key.trim_start_matches(keys::DEPLOY_DIR).to_string(), d["type"].as_str().unwrap_or("?").to_string()));
        }
        Ok((components, pbs, deploys))
    })
}
