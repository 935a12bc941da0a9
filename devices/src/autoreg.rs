//! Auto-registration in Tango DB mode (the 2019 `TOGGLE_AUTO_REGISTER`): a server started with
//! `TANGO_HOST` whose instance has no device of its class yet registers its default device, so
//! `SDPSubarray 1` and `SDPMaster 1` work against an empty database. On by default;
//! `TOGGLE_AUTO_REGISTER=0` turns it off (the Helm chart does, as dsconfig registers devices).

use std::time::Duration;

use tango::dbclient::{Database, TangoHost};

/// The device a server instance registers: `mid_sdp/elt/subarray_<instance>` for a numeric
/// subarray instance, `mid_sdp/elt/master` for the master.
pub fn default_device(class: &str, instance: &str) -> Option<String> {
    match class {
        "SDPMaster" => Some("mid_sdp/elt/master".into()),
        "SDPController" => Some("mid-sdp/control/0".into()),
        "SDPSubarray" if !instance.is_empty() && instance.chars().all(|c| c.is_ascii_digit()) => {
            Some(format!("mid_sdp/elt/subarray_{}", instance.trim_start_matches('0').max("0")))
        }
        _ => None,
    }
}

/// Register the default device of `class` for server `<exec>/<instance>` when the server has
/// none yet. `args` is the server command line (after the executable name); nothing happens
/// with `-nodb`, without `TANGO_HOST` or when `TOGGLE_AUTO_REGISTER=0`. Problems are reported
/// on stderr, never fatal (the server then says itself what is missing).
pub fn auto_register(exec: &str, class: &str, args: &[String]) {
    register_default(exec, class, args, default_device)
}

/// [`auto_register`] for the ADR-8 profile: `mid-sdp/subarray/<nn>` (two digits) and
/// `mid-sdp/control/0`.
pub fn auto_register_adr8(exec: &str, class: &str, args: &[String]) {
    register_default(exec, class, args, default_device_adr8)
}

/// The ADR-8 profile's device of a server instance.
pub fn default_device_adr8(class: &str, instance: &str) -> Option<String> {
    match class {
        "SDPSubarray" => instance.parse::<u32>().ok().map(|n| format!("mid-sdp/subarray/{n:02}")),
        other => default_device(other, instance),
    }
}

fn register_default(exec: &str, class: &str, args: &[String], default_device: fn(&str, &str) -> Option<String>) {
    if args.iter().any(|a| a == "-nodb") || std::env::var("TOGGLE_AUTO_REGISTER").as_deref() == Ok("0") {
        return;
    }
    let Some(instance) = args.iter().find(|a| !a.starts_with('-')) else { return };
    let Some(device) = default_device(class, instance) else { return };
    let Ok(host) = TangoHost::from_env() else { return };
    let db = Database::new(host).with_timeout(Duration::from_secs(2));
    let server = format!("{exec}/{instance}");
    match db.get_device_list(&server, class) {
        Ok(list) if list.is_empty() => match db.add_device(&server, &device, class) {
            Ok(()) => eprintln!("{exec}: registered {device} (class {class}) for server {server} in the Tango database"),
            Err(e) => eprintln!("{exec}: cannot register {device}: {e}"),
        },
        Ok(_) => {}
        Err(e) => eprintln!("{exec}: cannot ask the Tango database for the devices of {server} ({e}); not auto-registering"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_devices() {
        assert_eq!(default_device("SDPSubarray", "1").as_deref(), Some("mid_sdp/elt/subarray_1"));
        assert_eq!(default_device("SDPSubarray", "02").as_deref(), Some("mid_sdp/elt/subarray_2"));
        assert_eq!(default_device("SDPSubarray", "test"), None);
        assert_eq!(default_device("SDPMaster", "1").as_deref(), Some("mid_sdp/elt/master"));
        assert_eq!(default_device_adr8("SDPSubarray", "3").as_deref(), Some("mid-sdp/subarray/03"));
        assert_eq!(default_device_adr8("SDPController", "1").as_deref(), Some("mid-sdp/control/0"));
    }
}
