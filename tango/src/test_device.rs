//! `TestDevice`: the device the interop suite drives with the real PyTango client. It has one
//! attribute per Tango type and an echo command per command type, so every encoding path is
//! exercised end to end. It is also the example of the device API.

use std::time::Instant;

use crate::device::{Attr, Cmd, Device, DeviceClass, Outbox};
use crate::events::EventKind;
use crate::handle::DeviceHandle;
use crate::idl::{DevFailed, DevState, DispLevel};
use crate::tango_enum;

tango_enum! {
    /// Observation states of the capture device (the interop suite checks the labels).
    pub enum ObsState {
        EMPTY = 0, RESOURCING = 1, IDLE = 2, CONFIGURING = 3, READY = 4, SCANNING = 5, ABORTING = 6,
        ABORTED = 7, RESETTING = 8, FAULT = 9, RESTARTING = 10,
    }
}

tango_enum! {
    pub enum AdminMode { ONLINE = 0, OFFLINE = 1, ENGINEERING = 2, NOT_FITTED = 3, RESERVED = 4 }
}

#[derive(Debug)]
pub struct TestDevice {
    state: DevState,
    status: Option<String>,
    obs_state: ObsState,
    admin_mode: AdminMode,
    double_value: f64,
    double_spectrum: Vec<f64>,
    count: i32,
    boolean_scalar: bool,
    short_scalar: i16,
    long_scalar: i32,
    long64_scalar: i64,
    float_scalar: f32,
    double_scalar: f64,
    ushort_scalar: u16,
    ulong_scalar: u32,
    ulong64_scalar: u64,
    uchar_scalar: u8,
    string_scalar: String,
    long_spectrum: Vec<i32>,
    string_array: Vec<String>,
    boolean_spectrum: Vec<bool>,
    created: Instant,
    event_counter: i32,
    fail_reads: bool,
    outbox: Outbox,
    /// What `CountInBackground`'s thread changes the device with.
    handle: DeviceHandle<TestDevice>,
    /// Counted (and pushed) by `CountInBackground`'s thread, with no request.
    background_count: i32,
    /// What the `Log` command (log consumer interface) received: `LEVEL|device|message`.
    logged: Vec<String>,
}

impl TestDevice {
    /// A device whose background thread cannot reach it (`CountInBackground` counts nothing).
    pub fn new(name: &str) -> Self {
        Self::with_handle(name, DeviceHandle::detached())
    }

    /// The factory of [`Server::class_with_handle`](crate::Server::class_with_handle).
    pub fn with_handle(_name: &str, handle: DeviceHandle<TestDevice>) -> Self {
        TestDevice {
            state: DevState::OFF,
            status: None,
            obs_state: ObsState::EMPTY,
            admin_mode: AdminMode::OFFLINE,
            double_value: 1.5,
            double_spectrum: vec![0.0],
            count: 0,
            boolean_scalar: false,
            short_scalar: 0,
            long_scalar: 0,
            long64_scalar: 0,
            float_scalar: 0.0,
            double_scalar: 0.0,
            ushort_scalar: 0,
            ulong_scalar: 0,
            ulong64_scalar: 0,
            uchar_scalar: 0,
            string_scalar: String::new(),
            long_spectrum: vec![],
            string_array: vec![],
            boolean_spectrum: vec![],
            created: Instant::now(),
            event_counter: 0,
            fail_reads: false,
            outbox: Outbox::default(),
            handle,
            background_count: 0,
            logged: Vec::new(),
        }
    }
}

/// A read/write attribute backed by one field.
macro_rules! rw {
    ($name:expr, $field:ident) => {
        Attr::new($name).read(|d: &TestDevice| d.$field.clone()).write(|d: &mut TestDevice, v| {
            d.$field = v;
            Ok(())
        })
    };
}

/// An echo command for one argument type.
fn echo<T: crate::device::CmdArg>(name: &str) -> crate::device::CmdDef<TestDevice> {
    Cmd::new(name).doc_in("value").doc_out("same value").run(|_: &mut TestDevice, v: T| Ok(v))
}

impl Device for TestDevice {
    fn class() -> DeviceClass<Self> {
        DeviceClass::new("TestDevice")
            .description("Interop test device with one attribute per Tango type")
            .attribute(Attr::new("obsState").read(|d: &TestDevice| d.obs_state).description("Observing state"))
            .attribute(rw!("adminMode", admin_mode).description("Admin mode"))
            .attribute(Attr::new("receiveAddresses").read(|_: &TestDevice| String::from(r#"{"scan_types": []}"#)))
            .attribute(rw!("doubleValue", double_value).unit("m").format("%6.3f"))
            .attribute(Attr::new("boolValue").read(|_: &TestDevice| true))
            .attribute(Attr::new("longValue").read(|_: &TestDevice| -7i32).min_value(-100).max_value(100))
            .attribute(Attr::new("long64Value").read(|_: &TestDevice| 1i64 << 40))
            .attribute(Attr::new("ushortValue").read(|_: &TestDevice| 65535u16))
            .attribute(Attr::new("floatValue").read(|_: &TestDevice| 0.25f32))
            .attribute(Attr::new("ucharSpectrum").read(|_: &TestDevice| vec![1u8, 2, 3]).max_dim_x(8))
            .attribute(
                Attr::new("stringSpectrum")
                    .read(|_: &TestDevice| vec!["a".to_string(), "bc".to_string()])
                    .max_dim_x(4)
                    .display_level(DispLevel::EXPERT),
            )
            .attribute(rw!("doubleSpectrum", double_spectrum).max_dim_x(100_000))
            .attribute(rw!("booleanScalar", boolean_scalar))
            .attribute(rw!("shortScalar", short_scalar))
            .attribute(rw!("longScalar", long_scalar))
            .attribute(rw!("long64Scalar", long64_scalar))
            .attribute(rw!("floatScalar", float_scalar))
            .attribute(rw!("doubleScalar", double_scalar))
            .attribute(rw!("ushortScalar", ushort_scalar))
            .attribute(rw!("ulongScalar", ulong_scalar))
            .attribute(rw!("ulong64Scalar", ulong64_scalar))
            .attribute(rw!("ucharScalar", uchar_scalar))
            .attribute(rw!("stringScalar", string_scalar))
            .attribute(rw!("longSpectrum", long_spectrum).max_dim_x(1024))
            .attribute(rw!("stringArray", string_array).max_dim_x(64))
            .attribute(rw!("booleanSpectrum", boolean_spectrum).max_dim_x(64))
            // changes on its own every 500 ms: events come from polling
            .attribute(
                Attr::new("counter")
                    .read(|d: &TestDevice| (d.created.elapsed().as_millis() / 500) as i32)
                    .polled(500)
                    .abs_change(1)
                    .event_period(1000),
            )
            // pushed by CountInBackground's thread
            .attribute(Attr::new("backgroundCount").read(|d: &TestDevice| d.background_count))
            // pushed by PushCounter
            .attribute(Attr::new("eventCounter").read(|d: &TestDevice| d.event_counter))
            // fails to read while SetReadFailure(true)
            .attribute(Attr::new("failingValue").read(|d: &TestDevice| {
                if d.fail_reads {
                    Err(DevFailed::new("TEST_ReadFailure", "failingValue cannot be read now", "TestDevice.read_failingValue"))
                } else {
                    Ok(42.0f64)
                }
            }))
            .device_property("Greeting", "Text the device greets with", &["hello"])
            .class_property("Site", "Where the devices of this class run", &["lab"])
            .command(Cmd::new("AssignResources").doc_in("JSON resources").run(|d: &mut TestDevice, _cfg: String| {
                d.obs_state = ObsState::IDLE;
                d.state = DevState::ON;
                d.status = Some("Resources assigned".into());
                Ok(())
            }))
            .command(Cmd::new("Configure").doc_in("JSON scan configuration").run(|d: &mut TestDevice, _cfg: String| {
                d.obs_state = ObsState::READY;
                d.double_value = 3.25;
                Ok(())
            }))
            .command(Cmd::new("Echo").doc_in("any text").doc_out("same text").run(|_: &mut TestDevice, s: String| Ok(s)))
            .command(Cmd::new("GetCount").run(|d: &mut TestDevice, ()| {
                d.count += 1;
                Ok(d.count)
            }))
            .command(echo::<(Vec<i32>, Vec<String>)>("EchoLongString"))
            .command(
                Cmd::new("CountAsLongString")
                    .doc_out("the next count n: lvalue n, n+1, ... (n % 3 + 1 of them), svalue \"n\" (n % 2 + 1 times)")
                    .run(|d: &mut TestDevice, ()| {
                        d.count += 1;
                        let n = d.count;
                        Ok(((n..=n + n % 3).collect::<Vec<i32>>(), vec![n.to_string(); (n % 2 + 1) as usize]))
                    }),
            )
            .command(Cmd::new("Fail").run(|_: &mut TestDevice, ()| -> Result<(), DevFailed> {
                Err(DevFailed::new("SDP_TestFailure", "Fail command always fails", "TestDevice.Fail()"))
            }))
            .command(Cmd::new("PushCounter").doc_in("number of change events to push").run(|d: &mut TestDevice, n: i32| {
                for _ in 0..n.max(0) {
                    d.event_counter += 1;
                    let v = d.event_counter;
                    d.outbox.push_change("eventCounter", v);
                }
                Ok(())
            }))
            .command(
                Cmd::new("CountInBackground")
                    .doc_in("number of change events of backgroundCount a thread pushes after the command returned")
                    .run(|d: &mut TestDevice, n: i32| {
                        let handle = d.handle.clone();
                        // Runs once this command has released the device: no request is in
                        // progress when its events go out.
                        std::thread::spawn(move || {
                            for _ in 0..n.max(0) {
                                let counted = handle.run(|d: &mut TestDevice| {
                                    d.background_count += 1;
                                    let v = d.background_count;
                                    d.outbox.push_change("backgroundCount", v);
                                });
                                if let Err(e) = counted {
                                    tracing::warn!(error = %e, "CountInBackground stops");
                                    break;
                                }
                            }
                        });
                        Ok(())
                    }),
            )
            .command(Cmd::new("PushUserEvent").doc_in("value of the user event").run(|d: &mut TestDevice, s: String| {
                d.outbox.push_user("stringScalar", s);
                Ok(())
            }))
            .command(Cmd::new("PushError").run(|d: &mut TestDevice, ()| {
                let e = DevFailed::new("SDP_PushedError", "error pushed as an event", "TestDevice.PushError()");
                d.outbox.push_error("doubleValue", EventKind::Change, e);
                Ok(())
            }))
            .command(Cmd::new("SetReadFailure").doc_in("true: failingValue reads fail").run(|d: &mut TestDevice, on: bool| {
                d.fail_reads = on;
                Ok(())
            }))
            .command(Cmd::new("DoNothing").run(|_: &mut TestDevice, ()| Ok(())))
            .command(Cmd::new("Log").doc_in("log record: [ms, level, device, message, ndc, thread]").run(
                |d: &mut TestDevice, r: Vec<String>| {
                    if r.len() >= 4 {
                        d.logged.push(format!("{}|{}|{}", r[1], r[2], r[3]));
                    }
                    Ok(())
                },
            ))
            .command(
                Cmd::new("LogRecords")
                    .doc_out("LEVEL|device|message of every record received")
                    .run(|d: &mut TestDevice, ()| Ok(d.logged.clone())),
            )
            .command(Cmd::new("LogMessage").doc_in("[level, message]: the device logs it").run(
                |_: &mut TestDevice, a: Vec<String>| match (a.first().and_then(|l| crate::logging::Level::parse(l)), a.get(1)) {
                    (Some(level), Some(msg)) => {
                        crate::logging::log(level, msg);
                        Ok(())
                    }
                    _ => Err(DevFailed::new(
                        "API_WrongNumberOfArgs",
                        "LogMessage takes [level (FATAL..DEBUG), message]",
                        "TestDevice::LogMessage",
                    )),
                },
            ))
            .command(Cmd::new("StringSink").doc_in("any text").run(|_: &mut TestDevice, _s: String| Ok(())))
            .command(echo::<bool>("EchoBoolean"))
            .command(echo::<i16>("EchoShort"))
            .command(echo::<i32>("EchoLong"))
            .command(echo::<i64>("EchoLong64"))
            .command(echo::<u16>("EchoUShort"))
            .command(echo::<u32>("EchoULong"))
            .command(echo::<u64>("EchoULong64"))
            .command(echo::<f32>("EchoFloat"))
            .command(echo::<f64>("EchoDouble"))
            .command(echo::<DevState>("EchoState"))
            .command(echo::<Vec<String>>("EchoStringArray"))
            .command(echo::<(Vec<f64>, Vec<String>)>("EchoDoubleStringArray"))
            .command(echo::<Vec<u8>>("EchoCharArray"))
            .command(echo::<Vec<i16>>("EchoShortArray"))
            .command(echo::<Vec<i32>>("EchoLongArray"))
            .command(echo::<Vec<i64>>("EchoLong64Array"))
            .command(echo::<Vec<u16>>("EchoUShortArray"))
            .command(echo::<Vec<u32>>("EchoULongArray"))
            .command(echo::<Vec<u64>>("EchoULong64Array"))
            .command(echo::<Vec<f32>>("EchoFloatArray"))
            .command(echo::<Vec<f64>>("EchoDoubleArray"))
            .command(echo::<Vec<bool>>("EchoBooleanArray"))
    }

    fn state(&self) -> DevState {
        self.state
    }

    fn status(&self) -> String {
        self.status.clone().unwrap_or_else(|| format!("The device is in {} state.", self.state))
    }

    fn outbox(&mut self) -> Option<&mut Outbox> {
        Some(&mut self.outbox)
    }
}

/// The object table of `<exec> <instance> -nodb -dlist <device>` serving one `TestDevice`
/// and its admin device, without sockets: what the golden tests and the fuzz harness feed
/// requests to. `Kill` does nothing here.
pub fn sans_io_dispatcher(exec: &str, instance: &str, device: &str, host: &str) -> crate::dispatch::Dispatcher {
    use std::sync::Arc;
    struct NoControl;
    impl crate::admin::ServerControl for NoControl {
        fn shutdown(&self) {}
    }
    let dev: Arc<dyn crate::object::DeviceObject> =
        Arc::new(crate::object::DeviceCell::new(device, Arc::new(TestDevice::class()), Arc::new(TestDevice::new)));
    let identity = crate::dispatch::ServerIdentity { exec: exec.into(), instance: instance.into(), host: host.into(), tango_host: None };
    let admin = crate::admin::admin_device(
        &identity.admin_name(),
        vec![dev.clone()],
        Arc::new(NoControl),
        None,
        crate::admin::AdminServices { poller: crate::polling::Poller::new(), db: None, classes: Vec::new() },
    );
    crate::dispatch::Dispatcher::new(identity, vec![dev, admin])
}
