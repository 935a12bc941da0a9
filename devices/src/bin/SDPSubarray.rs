//! `SDPSubarray <instance> [-nodb -dlist mid_sdp/elt/subarray_1] [-ORBendPoint giop:tcp:HOST:PORT] [-v4] [--test-mode]`
//! `SDPSubarray --print-fsm [--interface adr8] [--markdown]` prints the obsState machine (Mermaid) and exits.
//!
//! Configuration DB from `SDP_CONFIG_HOST` / `SDP_CONFIG_PORT` (or `SDP_CONFIG_BACKEND=memory`);
//! with one, the server announces itself as component `SDPSubarray-<instance>` (see
//! `sdp_devices::liveness`).
//! Interface profile: `--interface adr8`, `SDP_INTERFACE_PROFILE=adr8` or the device property
//! `InterfaceProfile` = `adr8` serve the ADR-8 `SDPSubarray` (see `sdp_devices::adr8`).
//! Test mode (obsState writable): `--test-mode` or `SDP_TEST_MODE=1` for every device, or the
//! device property `TestMode` in Tango DB mode. Device properties: `TestMode`, `CbfOutputLink`,
//! `SdpMasterAddress`.
use sdp_devices::adr8::Profile;
use sdp_devices::subarray::WritableObsState;
use sdp_devices::{fsm, subarray, Services, Subarray};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--print-fsm") {
        let adr8 = args.windows(2).any(|w| w[0] == "--interface" && w[1] == "adr8");
        let markdown = args.iter().any(|a| a == "--markdown");
        match (adr8, markdown) {
            (false, false) => print!("{}", fsm::mermaid()),
            (false, true) => print!("{}", fsm::markdown()),
            (true, false) => print!("{}", fsm::adr8::mermaid()),
            (true, true) => print!("{}", fsm::adr8::markdown()),
        }
        return;
    }
    let profile = sdp_devices::adr8::profile_of_server("SDPSubarray", "SDPSubarray", &mut args).unwrap_or_else(|e| {
        eprintln!("SDPSubarray: {e}");
        std::process::exit(2)
    });
    if profile == Profile::Adr8 {
        eprintln!("SDPSubarray: interface profile adr8 (ADR-8 obsState, execution blocks)");
        sdp_devices::autoreg::auto_register_adr8("SDPSubarray", "SDPSubarray", &args);
        let services = sdp_devices::adr8::Services::from_env();
        let db = services.db();
        let server = tango::Server::new("SDPSubarray").class_with_handle(move |ctx: &tango::DeviceContext, handle| {
            sdp_devices::adr8::subarray::Subarray::create(ctx, &services, handle)
        });
        sdp_devices::liveness::run_server(server, "SDPSubarray", args, db)
    }
    let flag = args.iter().any(|a| a == "--test-mode");
    args.retain(|a| a != "--test-mode");
    let env = std::env::var("SDP_TEST_MODE").map(|v| v == "1" || v.eq_ignore_ascii_case("true")).unwrap_or(false);
    let process_wide = flag || env;
    // obsState writable in the class when the whole server, or some device of it, is in test mode
    let writable = if process_wide {
        eprintln!("SDPSubarray: test mode: obsState is writable");
        true
    } else if args.iter().any(|a| a == "-nodb") {
        false
    } else {
        let by_property = args.iter().find(|a| !a.starts_with('-')).is_some_and(|instance| subarray::db_test_mode(instance));
        if by_property {
            eprintln!("SDPSubarray: a device has the property TestMode: obsState is writable on that device");
        }
        by_property
    };
    sdp_devices::autoreg::auto_register("SDPSubarray", "SDPSubarray", &args);
    let services = Services::from_env(process_wide);
    let db = services.db.clone();
    let server = tango::Server::new("SDPSubarray");
    let server = if writable {
        server.class_with(move |ctx: &tango::DeviceContext| Subarray::<WritableObsState>::create_as(ctx, &services))
    } else {
        server.class_with(move |ctx: &tango::DeviceContext| Subarray::create_with(ctx, &services))
    };
    sdp_devices::liveness::run_server(server, "SDPSubarray", args, db)
}
