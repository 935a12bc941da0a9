//! The body of the `db_mysql_select` fuzz target: the embedded Tango database's
//! `DbMySqlSelect` command, entered where the dispatcher enters it for a `command_inout`
//! (`DeviceObject::command` of `sys/database/2`), on an in-memory store holding a few
//! devices, one with an alias.
//!
//! Input: the SQL text as it arrives in a CDR string (ISO-8859-1 bytes; a CDR string cannot
//! hold a NUL, so the text stops at the first one). The result must be well formed (one flag
//! per cell, then rows and columns), a refusal a `DB_SQLError` that says what is accepted, and
//! whatever the query, the database holds the same devices afterwards (DbMySqlSelect is read
//! only). Panics are bugs.

use std::sync::{Arc, Mutex, OnceLock};

use tango::any::CmdValue;
use tango::cdr::latin1_to_string;
use tango::database::{DataBase, Store};
use tango::object::{DeviceCell, DeviceObject};
use tango::Device;

pub const DB_DEVICE: &str = "sys/database/2";

fn database() -> &'static DeviceCell<DataBase> {
    static DB: OnceLock<DeviceCell<DataBase>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut store = Store::in_memory();
        store.self_name = DB_DEVICE.into();
        store.self_address = "127.0.0.1:10000".into();
        let ior = "IOR:010000001700000049444c3a54616e676f2f4465766963655f353a312e3000000100000000000000";
        store.register_self("DataBaseds/2", DB_DEVICE, "dserver/DataBaseds/2", ior, ior, "fuzz").expect("register the database");
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        store
            .add_server(&s(&["SDPSubarray/1", "mid_sdp/elt/subarray_1", "SDPSubarray", "mid_sdp/elt/subarray_2", "SDPSubarray"]))
            .expect("add a server");
        store.add_device(&s(&["SDPMaster/1", "mid_sdp/elt/master", "SDPMaster", "sdp-master"])).expect("add a device with an alias");
        let store = Arc::new(Mutex::new(store));
        DeviceCell::new(DB_DEVICE, Arc::new(DataBase::class()), Arc::new(move |_: &str| DataBase::new(store.clone())))
    })
}

/// Every device row, through the command itself.
fn devices() -> CmdValue {
    let all = "SELECT name, alias, server, class, exported FROM device ORDER BY name";
    database().command("DbMySqlSelect", CmdValue::String(all.into())).expect("the device table reads")
}

pub fn run(data: &[u8]) {
    static BEFORE: OnceLock<String> = OnceLock::new();
    let before = BEFORE.get_or_init(|| format!("{:?}", devices()));
    let text = data.split(|&b| b == 0).next().unwrap_or_default();
    let reply = database().command("DbMySqlSelect", CmdValue::String(latin1_to_string(text)));
    assert_eq!(&format!("{:?}", devices()), before, "DbMySqlSelect changed the database");
    match reply {
        Ok(CmdValue::LongStringArray(flags, cells)) => {
            let n = flags.len();
            assert!(n >= 2, "no rows/columns trailer: {flags:?}");
            let (rows, cols) = (flags[n - 2], flags[n - 1]);
            assert!(rows >= 0 && cols > 0, "rows {rows}, columns {cols}");
            assert_eq!(rows as usize * cols as usize, cells.len(), "cells do not fill rows x columns");
            assert_eq!(cells.len(), n - 2, "one not-NULL flag per cell");
            assert!(flags[..n - 2].iter().all(|f| *f == 0 || *f == 1), "flags are 0/1: {flags:?}");
        }
        Ok(other) => panic!("DbMySqlSelect returned {other:?}, not a DevVarLongStringArray"),
        Err(e) => {
            let first = &e.errors[0];
            assert_eq!(first.reason, "DB_SQLError", "{e:?}");
            assert!(first.desc.contains("DbMySqlSelect runs one read-only SELECT"), "the refusal says what is allowed: {}", first.desc);
            assert!(first.desc.len() < 2000, "the refusal echoes a bounded part of the query: {} bytes", first.desc.len());
        }
    }
}
