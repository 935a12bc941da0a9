//! `SDPMaster <instance> [-nodb -dlist mid_sdp/elt/master] [-ORBendPoint giop:tcp:HOST:PORT] [-v4]`
fn main() {
    tango::Server::new("SDPMaster").class(sdp_devices::Master::new).run_from_args()
}
