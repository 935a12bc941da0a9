//! A small blocking GIOP client: enough to talk to a Tango database (and to our own devices in
//! tests) the way real clients do: a corbaloc-style object key (`database`, or a device name),
//! GIOP 1.0 (the corbaloc default), `command_inout_4` with a typed `any`, `read_attributes_5`.
//!
//! The byte work is the sans-IO codec of [`giop`](crate::giop), [`cdr`](crate::cdr) and
//! [`any`](crate::any); this module only adds a socket with timeouts and request ids.
//! It is blocking on purpose: it is used at server start-up and shutdown (from a blocking
//! task), by command-line tools and by tests.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::any::{decode_any, encode_any, CmdValue};
use crate::cdr::{CdrError, CdrWriter};
use crate::giop::{self, Assembler, FrameSplitter, Message, Reply, ReplyStatus, Version};
use crate::idl::{AttributeValue_5, ClntIdent, DevError, DevFailed, DevSource, DEV_FAILED_ID};

/// Default time allowed for connecting and for each reply.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
const MAX_REPLY: usize = 64 << 20;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientError {
    /// Could not connect, or the connection broke.
    Io(String),
    /// No reply within the timeout.
    Timeout(String),
    /// The server raised `Tango::DevFailed`.
    DevFailed(DevFailed),
    /// The server raised a CORBA system exception (e.g. `OBJECT_NOT_EXIST`, `BAD_OPERATION`).
    System { name: String, minor: u32, completed: u32 },
    /// The reply could not be understood.
    Protocol(String),
}

impl ClientError {
    /// True when the peer could not be reached or went away (worth a retry elsewhere).
    pub fn is_transport(&self) -> bool {
        matches!(self, ClientError::Io(_) | ClientError::Timeout(_))
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Io(s) => write!(f, "connection error: {s}"),
            ClientError::Timeout(s) => write!(f, "timeout: {s}"),
            ClientError::DevFailed(e) => write!(f, "DevFailed: {e}"),
            ClientError::System { name, minor, completed } => {
                write!(f, "CORBA system exception {name} (minor {minor:#x}, completed {completed})")
            }
            ClientError::Protocol(s) => write!(f, "protocol error: {s}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<CdrError> for ClientError {
    fn from(e: CdrError) -> Self {
        ClientError::Protocol(e.to_string())
    }
}

/// The outcome of one reply, decoded from the GIOP bytes (sans-IO).
pub fn check_reply(reply: &Reply) -> Result<(), ClientError> {
    let mut r = reply.body();
    match reply.status {
        s if s == ReplyStatus::NoException as u32 => Ok(()),
        s if s == ReplyStatus::UserException as u32 => {
            let id = r.read_string()?;
            if id == DEV_FAILED_ID {
                let errors: Vec<DevError> = r.read_seq()?;
                Err(ClientError::DevFailed(DevFailed { errors }))
            } else {
                Err(ClientError::Protocol(format!("unexpected user exception {id}")))
            }
        }
        s if s == ReplyStatus::SystemException as u32 => {
            let id = r.read_string()?;
            let name = id.strip_prefix("IDL:omg.org/CORBA/").and_then(|s| s.strip_suffix(":1.0")).unwrap_or(&id).to_string();
            let minor = r.read_u32()?;
            let completed = r.read_u32()?;
            Err(ClientError::System { name, minor, completed })
        }
        s => Err(ClientError::Protocol(format!("unsupported reply status {s} (location forwarding is not supported)"))),
    }
}

/// The body of a `command_inout_4` request.
pub fn encode_command_inout_4(w: &mut CdrWriter, cmd: &str, arg: &CmdValue) {
    w.write_string(cmd);
    encode_any(w, arg);
    w.write(&DevSource::DEV);
    w.write(&ClntIdent::Cpp(std::process::id()));
}

/// The body of a `read_attributes_5` request (source DEV, this process as the client).
pub fn encode_read_attributes_5(w: &mut CdrWriter, names: &[&str]) {
    w.write_len(names.len());
    for n in names {
        w.write_string(n);
    }
    w.write(&DevSource::DEV);
    w.write(&ClntIdent::Cpp(std::process::id()));
}

/// One connection to one server.
pub struct Connection {
    stream: TcpStream,
    peer: String,
    next_id: u32,
    timeout: Duration,
    version: Version,
    buf: Vec<u8>,
}

impl Connection {
    /// Connect to `host:port` (tries every resolved address), with `timeout` for the
    /// connection and for each reply.
    pub fn connect(addr: &str, timeout: Duration) -> Result<Connection, ClientError> {
        let addrs: Vec<_> = addr.to_socket_addrs().map_err(|e| ClientError::Io(format!("cannot resolve {addr}: {e}")))?.collect();
        let mut last = format!("{addr} resolves to no address");
        for a in addrs {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    stream.set_read_timeout(Some(timeout)).map_err(|e| ClientError::Io(e.to_string()))?;
                    stream.set_write_timeout(Some(timeout)).map_err(|e| ClientError::Io(e.to_string()))?;
                    return Ok(Connection { stream, peer: addr.to_string(), next_id: 2, timeout, version: Version::V1_0, buf: Vec::new() });
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => last = format!("connecting to {addr} timed out after {timeout:?}"),
                Err(e) => last = format!("cannot connect to {addr}: {e}"),
            }
        }
        Err(ClientError::Io(last))
    }

    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Use another GIOP version for the following requests (default 1.0, as corbaloc).
    pub fn set_version(&mut self, v: Version) {
        self.version = v;
    }

    /// Send one request and wait for its reply; `body` writes the arguments.
    /// Returns the reply positioned at its result (system and user exceptions are errors).
    pub fn invoke(&mut self, object_key: &[u8], operation: &str, body: impl FnOnce(&mut CdrWriter)) -> Result<Reply, ClientError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(2);
        let req = giop::encode_request(self.version, id, true, object_key, operation, body);
        self.stream.write_all(&req).map_err(|e| self.io_error("sending", e))?;
        loop {
            let reply = self.read_message()?;
            match reply {
                Message::Reply(r) if r.request_id == id => {
                    check_reply(&r)?;
                    return Ok(r);
                }
                Message::Reply(_) => continue, // a late reply to an abandoned request
                Message::CloseConnection => return Err(ClientError::Io(format!("{} closed the connection", self.peer))),
                Message::MessageError => return Err(ClientError::Protocol(format!("{} answered MessageError", self.peer))),
                other => return Err(ClientError::Protocol(format!("unexpected message from {}: {other:?}", self.peer))),
            }
        }
    }

    /// `command_inout_4(cmd, arg)` on the object `object_key`.
    pub fn command_inout(&mut self, object_key: &[u8], cmd: &str, arg: &CmdValue) -> Result<CmdValue, ClientError> {
        let reply = self.invoke(object_key, "command_inout_4", |w| encode_command_inout_4(w, cmd, arg))?;
        Ok(decode_any(&mut reply.body())?)
    }

    /// `read_attributes_5([attr], DEV)` on the object `object_key`: the attribute's value, or
    /// the error the device reported for it.
    pub fn read_attribute(&mut self, object_key: &[u8], attr: &str) -> Result<AttributeValue_5, ClientError> {
        let reply = self.invoke(object_key, "read_attributes_5", |w| encode_read_attributes_5(w, &[attr]))?;
        let mut values: Vec<AttributeValue_5> = reply.body().read_seq()?;
        if values.len() != 1 {
            return Err(ClientError::Protocol(format!("read_attributes_5 of one attribute answered {} values", values.len())));
        }
        let v = values.remove(0);
        if !v.err_list.is_empty() {
            return Err(ClientError::DevFailed(DevFailed { errors: v.err_list }));
        }
        Ok(v)
    }

    fn io_error(&self, what: &str, e: std::io::Error) -> ClientError {
        match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                ClientError::Timeout(format!("{what}: no answer from {} within {:?}", self.peer, self.timeout))
            }
            _ => ClientError::Io(format!("{what} {}: {e}", self.peer)),
        }
    }

    fn read_message(&mut self) -> Result<Message, ClientError> {
        let splitter = FrameSplitter::new(MAX_REPLY);
        let mut assembler = Assembler::new(MAX_REPLY);
        let mut chunk = [0u8; 16 * 1024];
        loop {
            while let Some(n) = splitter.complete_len(&self.buf).map_err(|e| ClientError::Protocol(e.to_string()))? {
                let msg: Vec<u8> = self.buf.drain(..n).collect();
                if let Some(whole) = assembler.push(msg).map_err(|e| ClientError::Protocol(e.to_string()))? {
                    return giop::decode(whole).map_err(|e| ClientError::Protocol(e.to_string()));
                }
            }
            let n = self.stream.read(&mut chunk).map_err(|e| self.io_error("waiting for the reply from", e))?;
            if n == 0 {
                return Err(ClientError::Io(format!("{} closed the connection", self.peer)));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}
