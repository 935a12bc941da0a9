//! Database mode of the server runtime: learn the devices and their properties from the Tango
//! database at `TANGO_HOST`, export every device (and the admin device) with our IOR, and
//! unexport the server at shutdown.
//!
//! The database calls are blocking ([`crate::client`]); they run on tokio's blocking pool.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::client::ClientError;
use crate::dbclient::{Database, Properties};
use crate::idl::IDL_VERSION;
use crate::ior::{object_key_for, Ior};

/// What a device factory gets: the device's name, its class and its properties from the
/// database (class properties overridden by device properties; empty in `-nodb` mode).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceContext {
    pub name: String,
    pub class: String,
    pub properties: Properties,
    /// Attribute properties (class ones overridden by device ones), attribute name
    /// lower-cased → properties.
    pub attr_properties: BTreeMap<String, Properties>,
}

impl DeviceContext {
    pub fn new(name: &str, class: &str) -> DeviceContext {
        DeviceContext { name: name.into(), class: class.into(), ..Default::default() }
    }

    /// The values of a property (names are case-insensitive, as in Tango).
    pub fn property(&self, name: &str) -> Option<&[String]> {
        self.properties.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
    }

    /// The first value of a property.
    pub fn property_str(&self, name: &str) -> Option<&str> {
        self.property(name).and_then(|v| v.first()).map(String::as_str)
    }

    /// A property parsed as `T` (first value); `Err` says what was wrong.
    pub fn property_as<T: std::str::FromStr>(&self, name: &str) -> Option<Result<T, String>> {
        self.property_str(name).map(|s| {
            s.trim()
                .parse::<T>()
                .map_err(|_| format!("device {}: property {name} = {s:?} cannot be parsed as {}", self.name, std::any::type_name::<T>()))
        })
    }
}

/// First delay between attempts to reach a database that is down, and the ceiling.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// Run a blocking database call on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("database task panicked")
}

/// Ask the database for the devices of every class of `server` and their properties. A
/// database that cannot be reached is retried with backoff (forever: servers usually start
/// with, or before, their database); a database that answers with an error ends start-up.
/// `classes` are the class names with their attributes' names (whose properties are read).
pub async fn learn_devices(db: Arc<Database>, server: &str, classes: &[(String, Vec<String>)]) -> Result<Vec<DeviceContext>, String> {
    let mut delay = RETRY_FIRST;
    loop {
        let (db2, server2, classes2) = (db.clone(), server.to_string(), classes.to_vec());
        match blocking(move || query_devices(&db2, &server2, &classes2)).await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transport() => {
                tracing::warn!(
                    tango_host = %db.tango_host(),
                    "Tango database not reachable ({e}); server {server} retrying in {:.1} s",
                    delay.as_secs_f64()
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(RETRY_MAX);
            }
            Err(e) => return Err(format!("{server}: the Tango database at TANGO_HOST={} refused the device list: {e}", db.tango_host())),
        }
    }
}

fn query_devices(db: &Database, server: &str, classes: &[(String, Vec<String>)]) -> Result<Vec<DeviceContext>, ClientError> {
    let mut out = Vec::new();
    let mut class_props: BTreeMap<String, Properties> = BTreeMap::new();
    for (class, attrs) in classes {
        for name in db.get_device_list(server, class)? {
            if !class_props.contains_key(class) {
                class_props.insert(class.clone(), db.class_properties(class)?);
            }
            let properties = merge(class_props[class].clone(), db.device_properties(&name)?);
            let attr_properties = attribute_properties(db, class, &name, attrs)?;
            out.push(DeviceContext { name, class: class.clone(), properties, attr_properties });
        }
    }
    Ok(out)
}

/// The attribute properties of `device` for `attrs`: class ones overridden by device ones,
/// keyed by lower-cased attribute name.
pub fn attribute_properties(
    db: &Database,
    class: &str,
    device: &str,
    attrs: &[String],
) -> Result<BTreeMap<String, Properties>, ClientError> {
    if attrs.is_empty() {
        return Ok(BTreeMap::new());
    }
    let lower = |m: BTreeMap<String, Properties>| m.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect::<BTreeMap<_, _>>();
    let mut out = lower(db.get_class_attribute_property(class, attrs)?);
    for (attr, props) in lower(db.get_device_attribute_property(device, attrs)?) {
        let merged = merge(out.remove(&attr).unwrap_or_default(), props);
        out.insert(attr, merged);
    }
    Ok(out)
}

/// Device properties override class properties of the same (case-insensitive) name.
fn merge(mut class: Properties, device: Properties) -> Properties {
    for (k, v) in device {
        class.retain(|ck, _| !ck.eq_ignore_ascii_case(&k));
        class.insert(k, v);
    }
    class
}

/// The context of a device with its properties read again (blocking; for `Init`).
pub fn reload_properties(db: &Database, ctx: &DeviceContext) -> Result<DeviceContext, ClientError> {
    let properties = merge(db.class_properties(&ctx.class)?, db.device_properties(&ctx.name)?);
    Ok(DeviceContext { properties, ..ctx.clone() })
}

/// The IOR of one of our objects: Device_5, IIOP 1.2 to `host:port`, key = lower-cased name.
pub fn ior_for(name: &str, host: &str, port: u16) -> String {
    Ior::for_object(&format!("IDL:Tango/Device_{IDL_VERSION}:1.0"), host, port, &object_key_for(name)).to_string()
}

/// `DbExportDevice` for every name (devices and the admin device). A database that cannot
/// be reached is retried with backoff, as in [`learn_devices`]: it may go away between the
/// two (a restart of the database while this server builds its devices), and the server
/// then waits for it rather than exiting; a database that refuses an export ends start-up.
pub async fn export_all(db: Arc<Database>, names: Vec<String>, ior_host: String, port: u16, host_name: String) -> Result<(), String> {
    let mut delay = RETRY_FIRST;
    loop {
        let (db2, names2, ior_host2, host_name2) = (db.clone(), names.clone(), ior_host.clone(), host_name.clone());
        let result = blocking(move || {
            let pid = std::process::id();
            for n in &names2 {
                db2.export_device(n, &ior_for(n, &ior_host2, port), &host_name2, pid, &IDL_VERSION.to_string())
                    .map_err(|e| (n.clone(), e))?;
            }
            Ok(())
        })
        .await;
        match result {
            Ok(()) => return Ok(()),
            Err((n, e)) if e.is_transport() => {
                tracing::warn!(
                    tango_host = %db.tango_host(),
                    "Tango database not reachable ({e}); exporting {n}: retrying in {:.1} s",
                    delay.as_secs_f64()
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(RETRY_MAX);
            }
            Err((n, e)) => return Err(format!("cannot export {n} to the Tango database at TANGO_HOST={}: {e}", db.tango_host())),
        }
    }
}

/// `DbUnExportServer` at shutdown; a database that is gone is only logged.
pub async fn unexport(db: Arc<Database>, server: String) {
    let r = blocking({
        let db = db.clone();
        let server = server.clone();
        move || db.unexport_server(&server)
    })
    .await;
    match r {
        Ok(()) => tracing::info!(%server, "unexported from the Tango database"),
        Err(e) => tracing::warn!(%server, "could not unexport from the Tango database at TANGO_HOST={}: {e}", db.tango_host()),
    }
}
