//! The interop test device server: `TestDevice <instance> -nodb -dlist test/device/1 -ORBendPoint giop:tcp:127.0.0.1:PORT`.
fn main() {
    tango::Server::new("TestDevice").class(tango::test_device::TestDevice::new).run_from_args()
}
