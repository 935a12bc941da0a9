//! The body of the `configure_json` fuzz target: `SDPSubarray`'s `Configure` command entered
//! where the dispatcher enters it (`DeviceObject::command`), so the argument goes through the
//! device's guard, JSON parsing, schema validation, the conversion to a processing block and
//! the transaction that writes it — here to the in-memory configuration DB (no network).
//!
//! Input: the Configure argument as it arrives in a CDR string (ISO-8859-1 bytes). A CDR
//! string cannot hold a NUL, so a NUL ends the argument; what follows it, if anything, is a
//! CBF output link map (the `cbfOutputLinks` JSON a CSP subarray publishes), which goes with
//! the argument's parameters and scan ids through the receive-address computation Configure
//! runs when it reads the link map from CSP.
//!
//! Properties checked: an accepted Configure leaves the device READY with its processing
//! block in the DB; a refused one is an `SDP_InvalidConfiguration` or
//! `SDP_CbfOutputLinkError` with a description, and changes nothing. After a success the
//! harness deletes the processing block and re-initialises the device (IDLE), so every
//! input starts from the same state and memory stays bounded.

use std::sync::{Arc, Mutex, OnceLock};

use sdp_config::BackendChoice;
use sdp_devices::cfgdb::DbSetting;
use sdp_devices::fsm::ObsState;
use sdp_devices::subarray::{reason, SubarrayOptions};
use sdp_devices::{receive, schema, Services, Subarray};
use serde_json::Value;
use tango::any::CmdValue;
use tango::cdr::latin1_to_string;
use tango::object::{DeviceCell, DeviceObject};
use tango::Device;

pub const DEVICE: &str = "mid_sdp/elt/subarray_1";

struct Fixture {
    services: Arc<Services>,
    device: DeviceCell<Subarray>,
    /// One input at a time (the seed tests run on several threads).
    turn: Mutex<()>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let services = Services::new(DbSetting::Use(BackendChoice::Memory), SubarrayOptions::default());
        let s = services.clone();
        let device = DeviceCell::new(DEVICE, Arc::new(Subarray::class()), Arc::new(move |name: &str| Subarray::create(name, &s)));
        Fixture { services, device, turn: Mutex::new(()) }
    })
}

/// Read (and check) the processing block `pb_id`, then delete it.
fn take_pb(services: &Services, pb_id: &str) {
    let db = services.db.clone().expect("memory DB");
    let (id, handle) = (pb_id.to_string(), db.clone());
    let found = db
        .block(async move {
            let cfg = handle.client().await?;
            let mut txn = cfg.txn();
            loop {
                let pb = txn.get_processing_block(&id).await?;
                if pb.is_some() {
                    txn.delete_processing_block(&id, true).await?;
                }
                if txn.commit().await? {
                    return Ok::<_, sdp_config::Error>(pb);
                }
            }
        })
        .expect("memory DB answers");
    let pb = found.unwrap_or_else(|| panic!("Configure succeeded but /pb/{pb_id} is not in the DB"));
    assert_eq!(pb.pb_id, pb_id);
}

pub fn run(data: &[u8]) {
    let mut parts = data.splitn(2, |&b| b == 0);
    let arg = latin1_to_string(parts.next().unwrap_or_default());
    let link_map = parts.next();

    let f = fixture();
    let _turn = f.turn.lock().unwrap_or_else(|p| p.into_inner());
    let before = f.device.with_device(|d| d.core().clone());
    assert_eq!(before.obs, ObsState::IDLE, "every input starts from IDLE");
    match f.device.command("Configure", CmdValue::String(arg.clone())) {
        Ok(CmdValue::Void) => {
            let core = f.device.with_device(|d| d.core().clone());
            assert_eq!(core.obs, ObsState::READY, "accepted Configure -> READY");
            let pb_id = core.pb_id.expect("a configured subarray names its processing block");
            take_pb(&f.services, &pb_id);
            f.device.init().expect("Init");
        }
        Ok(other) => panic!("Configure returned {other:?}"),
        Err(e) => {
            let first = &e.errors[0];
            assert!([reason::INVALID, reason::LINK_MAP].contains(&first.reason.as_str()), "unexpected refusal {e:?}");
            assert!(!first.desc.trim().is_empty(), "a refusal says what was wrong: {e:?}");
            assert_eq!(f.device.with_device(|d| d.core().clone()), before, "a refused Configure changed the subarray");
        }
    }

    if let Some(link_map) = link_map {
        receive_addresses(&arg, link_map);
    }
}

/// Configure's CSP branch without CSP: the argument's parameters and scan ids with a given
/// link map.
fn receive_addresses(arg: &str, link_map: &[u8]) {
    let Ok(v) = serde_json::from_str::<Value>(arg) else { return };
    let Ok(params) = receive::ReceiveParams::from_parameters(v.pointer("/configure/parameters").unwrap_or(&Value::Null)) else {
        return;
    };
    let Ok(link_map) = serde_json::from_str::<Value>(&latin1_to_string(link_map)) else { return };
    let scan_ids: Vec<i64> = schema::scan_keys_in_order(arg).iter().filter_map(|k| k.trim().parse().ok()).collect();
    if let Ok(text) = receive::addresses_for_scans(&link_map, &scan_ids, &params) {
        serde_json::from_str::<Value>(&text).expect("receiveAddresses is JSON");
    }
}
