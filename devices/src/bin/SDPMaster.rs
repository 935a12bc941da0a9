//! `SDPMaster <instance> [-nodb -dlist mid_sdp/elt/master] [-ORBendPoint giop:tcp:HOST:PORT] [-v4]`
//! With `TANGO_HOST` and no device registered for the instance, it registers
//! `mid_sdp/elt/master` first (unless `TOGGLE_AUTO_REGISTER=0`). With `SDP_CONFIG_HOST`/`_PORT`
//! its OperatingState is kept in `/master` and restored at restart, its healthState follows
//! the processing controller and deployers, and the server announces itself as component
//! `SDPMaster-<instance>` (see `sdp_devices::liveness`). With `--interface adr8` (or
//! `SDP_INTERFACE_PROFILE=adr8`, or the property `InterfaceProfile` of its SDPController
//! devices) it serves the ADR-8 controller `SDPController` (`mid-sdp/control/0`) instead.
use sdp_devices::adr8::{controller, Profile};
use sdp_devices::master::{Master, MasterServices};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let profile = sdp_devices::adr8::profile_of_server("SDPMaster", controller::CLASS, &mut args).unwrap_or_else(|e| {
        eprintln!("SDPMaster: {e}");
        std::process::exit(2)
    });
    if profile == Profile::Adr8 {
        eprintln!("SDPMaster: interface profile adr8: serving SDPController");
        sdp_devices::autoreg::auto_register_adr8("SDPMaster", controller::CLASS, &args);
        let services = sdp_devices::adr8::Services::from_env();
        let db = services.db();
        let server = tango::Server::new("SDPMaster")
            .class_with_handle(move |ctx: &tango::DeviceContext, handle| controller::Controller::create(&ctx.name, &services, handle));
        sdp_devices::liveness::run_server(server, "SDPMaster", args, db)
    }
    sdp_devices::autoreg::auto_register("SDPMaster", "SDPMaster", &args);
    let services = MasterServices::from_env();
    let db = services.db.clone();
    let server = tango::Server::new("SDPMaster").class(move |name: &str| Master::create(name, &services));
    sdp_devices::liveness::run_server(server, "SDPMaster", args, db)
}
