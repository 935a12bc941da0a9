//! From a decoded GIOP Request to the reply bytes: the Tango `Device_5` operations.
//!
//! Sans-IO: [`Dispatcher::handle`] takes a [`Request`] and returns the reply (or nothing for a
//! oneway call). Tests drive it with captured requests; the server runtime drives it with
//! bytes from sockets.

use std::collections::HashMap;
use std::sync::Arc;

use crate::cdr::{CdrError, CdrWriter};
use crate::giop::{self, encode_reply, encode_system_exception, ReplyStatus, Request, Target};
use crate::idl::*;
use crate::object::{BlackBoxEntry, Detail, DeviceObject};
use crate::ops::{self, Call};

pub use crate::idl::IDL_VERSION;
pub const DOC_URL: &str = "Doc URL = http://www.tango-controls.org";
/// CORBA minor code omniORB uses for OBJECT_NOT_EXIST (`OBJECT_NOT_EXIST_NoMatch`).
const OMNI_OBJECT_NOT_EXIST_NOMATCH: u32 = 0x4f4d_0001;
const COMPLETED_NO: u32 = 1;

/// Who the server is (for `info`, `adm_name`, black box entries).
#[derive(Debug, Clone)]
pub struct ServerIdentity {
    /// Executable name as given, e.g. `SDPSubarray`.
    pub exec: String,
    pub instance: String,
    pub host: String,
    /// `TANGO_HOST` as given when the server runs with a database (`None` with `-nodb`);
    /// DB-mode event topics embed it verbatim.
    pub tango_host: Option<String>,
}

impl ServerIdentity {
    pub fn server_id(&self) -> String {
        format!("{}/{}", self.exec, self.instance)
    }
    pub fn admin_name(&self) -> String {
        format!("dserver/{}/{}", self.exec, self.instance)
    }
}

/// The table of objects a server hosts, keyed by lower-cased device name.
pub struct Dispatcher {
    pub identity: ServerIdentity,
    objects: HashMap<String, Arc<dyn DeviceObject>>,
    /// extra object key → device name (both lower-cased)
    aliases: HashMap<String, String>,
}

/// A caller as the black box describes it.
#[derive(Debug, Clone)]
pub struct Peer {
    /// `localhost` for loopback clients, else the IP address.
    pub host: Arc<str>,
    /// The connection as omniORB names it, `giop:tcp:<ip>:<port>` (lock status reports it).
    pub address: Arc<str>,
}

impl Peer {
    pub fn from_socket(peer: std::net::SocketAddr) -> Peer {
        let host = if peer.ip().is_loopback() { Arc::from("localhost") } else { Arc::from(peer.ip().to_string()) };
        Peer { host, address: Arc::from(format!("giop:tcp:{}:{}", peer.ip(), peer.port())) }
    }
}

impl Default for Peer {
    fn default() -> Self {
        Peer { host: Arc::from("localhost"), address: Arc::from("giop:tcp:127.0.0.1:0") }
    }
}

pub(crate) enum Outcome {
    Ok(CdrWriter),
    User(DevFailed),
    MultiDevFailed(Vec<(usize, String, DevFailed)>),
    System(&'static str, u32),
}

/// A successful outcome whose body `f` writes in place in the reply to be sent.
pub(crate) fn ok(f: impl FnOnce(&mut CdrWriter)) -> Outcome {
    let mut w = giop::reply_body_writer();
    f(&mut w);
    Outcome::Ok(w)
}

impl Dispatcher {
    pub fn new(identity: ServerIdentity, objects: Vec<Arc<dyn DeviceObject>>) -> Self {
        let objects = objects.into_iter().map(|o| (o.name().to_ascii_lowercase(), o)).collect();
        Dispatcher { identity, objects, aliases: HashMap::new() }
    }

    /// Serve the object `device` also under the object key `key` (case-insensitive).
    /// `objects()` still lists each object once.
    pub fn add_alias(&mut self, key: &str, device: &str) {
        self.aliases.insert(key.to_ascii_lowercase(), device.to_ascii_lowercase());
    }

    pub fn object(&self, name: &str) -> Option<&Arc<dyn DeviceObject>> {
        let key = name.to_ascii_lowercase();
        self.objects.get(&key).or_else(|| self.aliases.get(&key).and_then(|d| self.objects.get(d)))
    }

    /// The object an object key names. Keys are lower-cased device names: when they are,
    /// the lookup allocates nothing (it is on every request's path).
    fn object_by_key(&self, key: &[u8]) -> Option<&Arc<dyn DeviceObject>> {
        match std::str::from_utf8(key) {
            Ok(k) if !k.bytes().any(|b| b.is_ascii_uppercase()) => {
                self.objects.get(k).or_else(|| self.aliases.get(k).and_then(|d| self.objects.get(d)))
            }
            _ => self.object(&String::from_utf8_lossy(key)),
        }
    }

    pub fn objects(&self) -> impl Iterator<Item = &Arc<dyn DeviceObject>> {
        self.objects.values()
    }

    /// Handle one request; `None` when no reply is expected.
    pub fn handle(&self, req: &Request, peer: &Peer) -> Option<Vec<u8>> {
        let outcome = match &req.target {
            Target::Other(_) => {
                // We only understand KeyAddr: ask the client to use it.
                return req
                    .response_expected
                    .then(|| encode_reply(req.version, req.request_id, ReplyStatus::NeedsAddressingMode, |w| w.write_i16(0)));
            }
            Target::Key(key) => match self.object_by_key(key) {
                None => Outcome::System("OBJECT_NOT_EXIST", OMNI_OBJECT_NOT_EXIST_NOMATCH),
                Some(obj) => match self.operation(obj.as_ref(), req, peer) {
                    Ok(o) => o,
                    Err(e) => {
                        tracing::debug!(op = %req.operation, error = %e, "undecodable arguments");
                        Outcome::System("MARSHAL", 0)
                    }
                },
            },
        };
        if !req.response_expected {
            return None;
        }
        let (v, id) = (req.version, req.request_id);
        Some(match outcome {
            Outcome::Ok(w) => giop::finish_reply(v, id, ReplyStatus::NoException, w),
            Outcome::User(e) => encode_reply(v, id, ReplyStatus::UserException, |w| encode_dev_failed(w, &e)),
            Outcome::MultiDevFailed(errs) => encode_reply(v, id, ReplyStatus::UserException, |w| {
                w.write_string("IDL:Tango/MultiDevFailed:1.0");
                w.write_len(errs.len());
                for (i, name, e) in &errs {
                    w.write_string(name);
                    w.write_i32(*i as i32);
                    w.write_seq(&e.errors);
                }
            }),
            Outcome::System(name, minor) => encode_system_exception(v, id, name, minor, COMPLETED_NO),
        })
    }

    pub(crate) fn record(
        &self,
        obj: &dyn DeviceObject,
        what: &'static str,
        op: &'static str,
        detail: Detail,
        ident: Option<&ClntIdent>,
        peer: &Peer,
    ) {
        obj.black_box().record(BlackBoxEntry {
            at: std::time::SystemTime::now(),
            what,
            op,
            detail,
            host: peer.host.clone(),
            client: ident.cloned(),
        });
    }

    fn operation(&self, obj: &dyn DeviceObject, req: &Request, peer: &Peer) -> Result<Outcome, CdrError> {
        // The body reader must start at the body offset with the message start as origin;
        // the body bytes were already aligned when the request was built.
        let mut r = req.body();
        let call = Call { dispatcher: self, obj, op: req.operation.as_str(), peer };
        let handled = ops::info::handle(&call, &mut r)
            .or_else(|| ops::command::handle(&call, &mut r))
            .or_else(|| ops::attribute::handle(&call, &mut r))
            .or_else(|| ops::config::handle(&call, &mut r))
            .or_else(|| ops::history::handle(&call, &mut r));
        handled.unwrap_or(Ok(Outcome::System("BAD_OPERATION", 0)))
    }

    pub(crate) fn dev_info(&self, obj: &dyn DeviceObject) -> DevInfo {
        DevInfo {
            dev_class: obj.class_name().to_string(),
            server_id: self.identity.server_id(),
            server_host: self.identity.host.clone(),
            server_version: IDL_VERSION,
            doc_url: DOC_URL.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::giop::Version;

    #[test]
    fn unknown_object_is_object_not_exist() {
        let d = Dispatcher::new(ServerIdentity { exec: "X".into(), instance: "i".into(), host: "h".into(), tango_host: None }, vec![]);
        let req = crate::giop::encode_request(Version::V1_0, 8, true, b"mid_sdp/elt/no_such_device", "ping", |_| {});
        let crate::giop::Message::Request(req) = crate::giop::decode(req).unwrap() else { panic!() };
        let reply = d.handle(&req, &Peer::default()).unwrap();
        let crate::giop::Message::Reply(rep) = crate::giop::decode(reply).unwrap() else { panic!() };
        assert_eq!(rep.status, ReplyStatus::SystemException as u32);
        let mut b = rep.body();
        assert_eq!(b.read_string().unwrap(), "IDL:omg.org/CORBA/OBJECT_NOT_EXIST:1.0");
        assert_eq!(b.read_u32().unwrap(), 0x4f4d0001);
        assert_eq!(b.read_u32().unwrap(), 1);
    }
}
