//! How a device comes back after its server restarts: one lifecycle for every device that
//! keeps its state in the configuration DB (SDPSubarray in `/subarray/<nn>`, SDPMaster in
//! `/master`).
//!
//! * The first creation of a device in a process reads what it stored: something (restore
//!   it), nothing (start from the defaults and store them).
//! * When the DB does not answer then, the device starts from its defaults but must not store
//!   them (they would overwrite the real state once the DB is back): the state is read in the
//!   background, retried until the DB answers, and shown as soon as it arrives
//!   ([`Late::stored`]); what a command does with it is the device's rule (the subarray
//!   applies it first, the master's newest order wins).
//! * A later creation in the same process is the `Init` command: defaults, stored.
//!
//! Both devices had written this out each in its own way; the rules now live here once.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

use crate::cfgdb::{ConfigDb, Follow};

/// The devices of a server created so far: a later creation of one is its `Init`.
#[derive(Debug, Default)]
pub struct Created(Mutex<HashSet<String>>);

impl Created {
    /// Is this the first creation of `device` in this process? (Records it.)
    pub fn first(&self, device: &str) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(device.to_ascii_lowercase())
    }
}

/// A stored state being read in the background: empty until the DB answered, then what was
/// stored (`None` inside: nothing, or nothing the device could read).
#[derive(Debug)]
pub struct Late<T> {
    value: Arc<OnceLock<Option<T>>>,
    _reading: Follow,
}

impl<T> Late<T> {
    /// What was stored, once read.
    pub fn stored(&self) -> Option<&Option<T>> {
        self.value.get()
    }
}

/// How a device starts.
#[derive(Debug)]
pub enum Start<T> {
    /// No configuration DB: defaults, nothing stored.
    NoDb,
    /// `Init` (not the first creation in this process): defaults, to be stored.
    Init,
    /// Read now: what `key` holds (`None`: nothing stored; defaults, to be stored).
    Stored(Option<Value>),
    /// The DB did not answer: defaults, not stored; the state follows in the background.
    Later(Late<T>, sdp_config::Error),
}

/// Begin a device's life (see the module docs). For [`Start::Later`], the stored value is
/// decoded by `decode` and handed to `prepare` (which may start what must be running before
/// the state is shown) before it becomes visible.
pub fn begin<T, F>(
    db: Option<&Arc<ConfigDb>>,
    key: &str,
    first: bool,
    decode: impl Fn(&Value) -> Option<T> + Send + 'static,
    prepare: impl FnOnce(Option<&T>) -> F + Send + 'static,
) -> Start<T>
where
    T: Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let Some(db) = db else { return Start::NoDb };
    if !first {
        return Start::Init;
    }
    match db.load_state(key) {
        Ok(stored) => Start::Stored(stored),
        Err(e) => {
            let value = Arc::new(OnceLock::new());
            let slot = value.clone();
            let reading = db.load_state_later(key, move |stored| async move {
                let decoded = stored.as_ref().and_then(decode);
                prepare(decoded.as_ref()).await;
                let _ = slot.set(decoded);
            });
            Start::Later(Late { value, _reading: reading }, e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sdp_config::BackendChoice;

    #[test]
    fn first_creation_reads_later_ones_are_init() {
        let db = ConfigDb::new(BackendChoice::Memory);
        let created = Created::default();
        let decode = |v: &Value| v["n"].as_i64();
        let start = |first| begin(Some(&db), "07", first, decode, |_| async {});
        assert!(created.first("a/b/C") && !created.first("a/b/c"));
        assert!(matches!(start(true), Start::Stored(None)));
        db.persist("07", serde_json::json!({"n": 3}));
        assert!(matches!(start(true), Start::Stored(Some(v)) if v["n"] == 3));
        assert!(matches!(start(false), Start::Init));
        assert!(matches!(begin(None, "07", true, decode, |_| async {}), Start::NoDb));
    }
}
