//! `SDPSubarray <instance> [-nodb -dlist mid_sdp/elt/subarray_1] [-ORBendPoint giop:tcp:HOST:PORT] [-v4] [--test-mode]`
//! `SDPSubarray --print-fsm [--markdown]` prints the obsState machine (Mermaid) and exits.
//!
//! Configuration DB from `SDP_CONFIG_HOST` / `SDP_CONFIG_PORT` (or `SDP_CONFIG_BACKEND=memory`);
//! test mode (obsState writable) with `--test-mode` or `SDP_TEST_MODE=1`.
use sdp_devices::{fsm, subarray, Services, Subarray};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--print-fsm") {
        if args.iter().any(|a| a == "--markdown") {
            print!("{}", fsm::markdown());
        } else {
            print!("{}", fsm::mermaid());
        }
        return;
    }
    let flag = args.iter().any(|a| a == "--test-mode");
    args.retain(|a| a != "--test-mode");
    let env = std::env::var("SDP_TEST_MODE").map(|v| v == "1" || v.eq_ignore_ascii_case("true")).unwrap_or(false);
    subarray::set_test_mode(flag || env);
    if flag || env {
        eprintln!("SDPSubarray: test mode: obsState is writable");
    }
    let services = Services::from_env();
    tango::Server::new("SDPSubarray").class(move |name: &str| Subarray::create(name, &services)).run_with_args(args)
}
