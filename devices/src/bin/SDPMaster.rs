//! `SDPMaster <instance> [-nodb -dlist mid_sdp/elt/master] [-ORBendPoint giop:tcp:HOST:PORT] [-v4]`
//! With `TANGO_HOST` and no device registered for the instance, it registers
//! `mid_sdp/elt/master` first (unless `TOGGLE_AUTO_REGISTER=0`).
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    sdp_devices::autoreg::auto_register("SDPMaster", "SDPMaster", &args);
    tango::Server::new("SDPMaster").class(sdp_devices::Master::new).run_with_args(args)
}
