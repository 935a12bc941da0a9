//! `SDPMaster <instance> [-nodb -dlist mid_sdp/elt/master] [-ORBendPoint giop:tcp:HOST:PORT] [-v4]`
//! With `TANGO_HOST` and no device registered for the instance, it registers
//! `mid_sdp/elt/master` first (unless `TOGGLE_AUTO_REGISTER=0`). With `SDP_CONFIG_HOST`/`_PORT`
//! its OperatingState is kept in `/master` and restored at restart, its healthState follows
//! the processing controller and deployers, and the server announces itself as component
//! `SDPMaster-<instance>` (see `sdp_devices::liveness`).
use sdp_devices::master::{Master, MasterServices};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    sdp_devices::autoreg::auto_register("SDPMaster", "SDPMaster", &args);
    let services = MasterServices::from_env();
    let db = services.db.clone();
    let server = tango::Server::new("SDPMaster").class(move |name: &str| Master::create(name, &services));
    sdp_devices::liveness::run_server(server, "SDPMaster", args, db)
}
