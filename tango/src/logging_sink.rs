//! Delivery of log records to a log consumer device (`device::<name>` logging targets): the
//! socket side of [`logging`](crate::logging), which only queues records. One connection per
//! consumer, opened on first use and again after a failure.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::any::CmdValue;
use crate::client::Connection;
use crate::dbclient::{locate_device, Database};
use crate::logging::ConsumerSender;

const TIMEOUT: Duration = Duration::from_secs(3);

/// Send records with `Log(DevVarStringArray)` to the consumer device named in the target.
pub fn consumer_sender(db: Option<Arc<Database>>) -> ConsumerSender {
    let conns: Mutex<HashMap<String, (Connection, Vec<u8>)>> = Mutex::new(HashMap::new());
    Arc::new(move |consumer: &str, record: Vec<String>| {
        let mut c = conns.lock().unwrap_or_else(|p| p.into_inner());
        if !c.contains_key(consumer) {
            let (endpoint, key) = locate_device(consumer, db.as_deref(), TIMEOUT)?;
            let conn = Connection::connect(&endpoint, TIMEOUT).map_err(|e| e.to_string())?;
            c.insert(consumer.to_string(), (conn, key));
        }
        let (conn, key) = c.get_mut(consumer).expect("just inserted");
        let key = key.clone();
        match conn.command_inout(&key, "Log", &CmdValue::StringArray(record)) {
            Ok(_) => Ok(()),
            Err(e) => {
                c.remove(consumer);
                Err(e.to_string())
            }
        }
    })
}
