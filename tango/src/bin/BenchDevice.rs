//! Benchmark device server with TangoTest's names, so one client drives it, cppTango's
//! TangoTest and the PyTango reference (`bench/bench_server.py`) unchanged:
//! `BenchDevice bench -nodb -dlist test/bench/1 -ORBendPoint giop:tcp:127.0.0.1:PORT`.

use tango::device::Outbox;
use tango::{Attr, Cmd, DevFailed, DevState, Device, DeviceClass, Server};

#[derive(Default)]
struct Bench {
    long: i32,
    double: f64,
    string: String,
    counter: i32,
    outbox: Outbox,
}

impl Device for Bench {
    fn class() -> DeviceClass<Self> {
        DeviceClass::new("BenchDevice")
            .attribute(Attr::new("long_scalar").read(|d: &Bench| d.long).write(|d: &mut Bench, v: i32| {
                d.long = v;
                Ok(())
            }))
            .attribute(Attr::new("double_scalar").read(|d: &Bench| d.double).write(|d: &mut Bench, v: f64| {
                d.double = v;
                Ok(())
            }))
            .attribute(Attr::new("string_scalar").read(|d: &Bench| d.string.clone()).write(|d: &mut Bench, v: String| {
                d.string = v;
                Ok(())
            }))
            .attribute(Attr::new("counter").read(|d: &Bench| d.counter))
            .command(Cmd::new("DevString").run(|_: &mut Bench, s: String| Ok(s)))
            .command(Cmd::new("DevVoid").run(|_: &mut Bench, ()| Ok(())))
            .command(Cmd::new("StringSink").run(|d: &mut Bench, s: String| {
                d.string = s;
                Ok(())
            }))
            .command(Cmd::new("PushCounter").run(|d: &mut Bench, n: i32| -> Result<(), DevFailed> {
                for _ in 0..n.max(0) {
                    d.counter += 1;
                    let v = d.counter;
                    d.outbox.push_change("counter", v);
                }
                Ok(())
            }))
    }

    fn state(&self) -> DevState {
        DevState::ON
    }

    fn outbox(&mut self) -> Option<&mut Outbox> {
        Some(&mut self.outbox)
    }
}

fn main() {
    Server::new("BenchDevice").class(|_: &str| Bench::default()).run_from_args()
}
