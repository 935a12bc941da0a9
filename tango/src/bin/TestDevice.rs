//! The interop test device server: `TestDevice <instance> -nodb -dlist test/device/1 -ORBendPoint giop:tcp:127.0.0.1:PORT`.
fn main() {
    tango::Server::new("TestDevice")
        .class_with_handle(|ctx, handle| tango::test_device::TestDevice::with_handle(&ctx.name, handle))
        .run_from_args()
}
