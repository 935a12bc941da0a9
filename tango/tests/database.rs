//! Database mode end to end, in one process: the embedded database, a device server that
//! starts before it (retries), learns its device and properties from it, exports itself,
//! keeps serving when the database goes away, and unexports at shutdown.

use std::time::Duration;

use tango::any::CmdValue;
use tango::client::{ClientError, Connection};
use tango::database::{self, DatabaseOptions};
use tango::dbclient::{Database, TangoHost};
use tango::ior::Ior;
use tango::{Attr, Cmd, DevState, Device, DeviceClass, DeviceContext, Server, ServerOptions};

struct Configured {
    greeting: String,
    limit: i32,
}

impl Device for Configured {
    fn class() -> DeviceClass<Self> {
        DeviceClass::new("Configured")
            .attribute(Attr::new("limit").read(|d: &Configured| d.limit))
            .command(Cmd::new("Greet").run(|d: &mut Configured, who: String| Ok(format!("{} {who}", d.greeting))))
    }
    fn state(&self) -> DevState {
        DevState::ON
    }
}

fn configured(ctx: &DeviceContext) -> Configured {
    Configured {
        greeting: ctx.property_str("Greeting").unwrap_or("hello").to_string(),
        limit: ctx.property_as::<i32>("Limit").and_then(Result::ok).unwrap_or(-1),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_registers_in_the_embedded_database() {
    let port = free_port();
    let tango_host = format!("127.0.0.1:{port}");
    std::env::set_var("TANGO_HOST", &tango_host);

    // 1. the server starts first: the database is down, it retries
    let server = tokio::spawn(Server::new("ConfiguredServer").class_with(configured).start(ServerOptions {
        instance: "t".into(),
        host: Some("127.0.0.1".into()),
        ..ServerOptions::default()
    }));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!server.is_finished(), "the server must wait for the database, not give up");

    // 2. the database comes up; the device is registered with properties (class + device)
    let db = database::start(DatabaseOptions { port, ..DatabaseOptions::default() }).await.unwrap();
    let client = std::sync::Arc::new(Database::new(TangoHost::parse(&tango_host).unwrap()));
    let c = client.clone();
    blocking(move || {
        c.add_device("ConfiguredServer/t", "test/configured/1", "Configured").unwrap();
        c.put_class_property("Configured", &[("Greeting".to_string(), vec!["hi".to_string()]), ("Limit".into(), vec!["1".into()])].into())
            .unwrap();
        c.put_device_property("test/configured/1", &[("limit".to_string(), vec!["42".to_string()])].into()).unwrap();
    })
    .await;
    let running = tokio::time::timeout(Duration::from_secs(20), server).await.expect("server registered in time").unwrap().unwrap();

    // 3. a client finds it by name through the database and calls it over the exported IOR
    let c = client.clone();
    let (import, reply, limit) = blocking(move || {
        let import = c.import_device("test/configured/1").unwrap();
        let ior = Ior::parse(&import.ior).unwrap();
        let p = ior.iiop().unwrap().clone();
        let mut conn = Connection::connect(&format!("{}:{}", p.host, p.port), Duration::from_secs(3)).unwrap();
        conn.set_version(tango::giop::Version::V1_2);
        let reply = conn.command_inout(&p.object_key, "Greet", &CmdValue::String("you".into())).unwrap();
        let limit = conn.invoke(&p.object_key, "read_attributes_5", |w| {
            w.write_seq(&["limit".to_string()]);
            w.write(&tango::idl::DevSource::DEV);
            w.write(&tango::idl::ClntIdent::Cpp(1));
        });
        (import, reply, limit.map(|r| r.body().read_seq::<tango::idl::AttributeValue_5>().unwrap()))
    })
    .await;
    assert!(import.exported);
    assert_eq!(import.class, "Configured");
    assert_eq!(import.server, "ConfiguredServer/t");
    assert_eq!(import.version, "5");
    assert_eq!(reply, CmdValue::String("hi you".into()), "class property reached the device");
    assert_eq!(limit.unwrap()[0].value, tango::idl::AttrData::Long(vec![42]), "device property overrides the class property");
    let admin = blocking({
        let c = client.clone();
        move || c.import_device("dserver/ConfiguredServer/t").unwrap()
    })
    .await;
    assert!(admin.exported);

    // 3b. Init re-reads the properties from the database
    let c = client.clone();
    let key0 = Ior::parse(&import.ior).unwrap().iiop().unwrap().object_key.clone();
    let addr0 = running.addr;
    let after_init = blocking(move || {
        c.put_device_property("test/configured/1", &[("Greeting".to_string(), vec!["welcome".to_string()])].into()).unwrap();
        let mut conn = Connection::connect(&addr0.to_string(), Duration::from_secs(3)).unwrap();
        conn.command_inout(&key0, "Init", &CmdValue::Void).unwrap();
        conn.command_inout(&key0, "Greet", &CmdValue::String("back".into())).unwrap()
    })
    .await;
    assert_eq!(after_init, CmdValue::String("welcome back".into()));

    // 4. the database goes away: the device keeps working
    db.server.shutdown();
    db.server.wait().await;
    let key = Ior::parse(&import.ior).unwrap().iiop().unwrap().object_key.clone();
    let addr = running.addr;
    let r = blocking(move || {
        Connection::connect(&addr.to_string(), Duration::from_secs(3)).unwrap().command_inout(
            &key,
            "Greet",
            &CmdValue::String("again".into()),
        )
    })
    .await;
    assert_eq!(r.unwrap(), CmdValue::String("welcome again".into()));
    // Init without a database: the device keeps the properties it had
    let key = Ior::parse(&import.ior).unwrap().iiop().unwrap().object_key.clone();
    let r = blocking(move || {
        let mut conn = Connection::connect(&addr.to_string(), Duration::from_secs(5)).unwrap();
        conn.command_inout(&key, "Init", &CmdValue::Void).unwrap();
        conn.command_inout(&key, "Greet", &CmdValue::String("still".into()))
    })
    .await;
    assert_eq!(r.unwrap(), CmdValue::String("welcome still".into()));

    // 5. shutdown with the database gone: logged, not fatal
    running.shutdown();
    tokio::time::timeout(Duration::from_secs(15), running.wait()).await.expect("server stops although the database is gone");
}

#[test]
fn client_reports_system_exceptions_and_dev_failed() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let db = rt.block_on(database::start(DatabaseOptions { port: 0, ..DatabaseOptions::default() })).unwrap();
    let addr = db.server.addr.to_string();
    let mut c = Connection::connect(&addr, Duration::from_secs(3)).unwrap();
    match c.command_inout(b"no/such/device", "State", &CmdValue::Void) {
        Err(ClientError::System { name, .. }) => assert_eq!(name, "OBJECT_NOT_EXIST"),
        other => panic!("expected OBJECT_NOT_EXIST, got {other:?}"),
    }
    match c.command_inout(b"database", "DbImportDevice", &CmdValue::String("x/y/z".into())) {
        Err(ClientError::DevFailed(e)) => assert_eq!(e.reason(), "DB_DeviceNotDefined"),
        other => panic!("expected DevFailed, got {other:?}"),
    }
    // the same object under both keys
    let a = c.command_inout(b"database", "DbGetCSDbServerList", &CmdValue::Void).unwrap();
    let b = c.command_inout(b"SYS/DATABASE/2", "DbGetCSDbServerList", &CmdValue::Void).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, CmdValue::StringArray(vec![db.tango_host.clone()]));
    // TANGO_HOST alternatives: the first is down, the second answers
    let dead = free_port();
    let alt = Database::new(TangoHost::parse(&format!("127.0.0.1:{dead},{}", db.tango_host)).unwrap());
    assert_eq!(alt.import_device("sys/database/2").unwrap().class, "DataBase");
    assert!(alt.import_device("sys/database/2").unwrap().exported);
    // nothing listening: a transport error, quickly
    let e = Connection::connect(&format!("127.0.0.1:{dead}"), Duration::from_secs(1)).err().unwrap();
    assert!(e.is_transport(), "{e}");
    db.server.shutdown();
    rt.block_on(db.server.wait());
}
