//! One client connection, served on a thread of its own with blocking socket calls.
//!
//! Why a thread and not an async task: a Tango request is a short synchronous call into device
//! code, and a command may block for a long time (a database write, a slow instrument). With a
//! thread per connection, as omniORB does it, a request costs one `recv` and one `send` (the
//! async version also paid an `epoll_wait`), the device code runs where the request arrived
//! (no hand-over to another thread for commands, which was the largest part of a command's
//! cost), and a slow command holds up only the client that sent it. The idle timeout is the
//! socket's receive timeout, so no timer is touched per request.
//!
//! The protocol work stays sans-IO: [`FrameSplitter`] cuts messages, [`Assembler`] joins
//! fragments, [`giop::decode`] parses and the [`Dispatcher`] answers.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::dispatch::{Dispatcher, Peer};
use crate::giop::{self, Assembler, FrameSplitter, Message, MsgType, Version};

/// What the clients of one server (a device server or the database) may use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnLimits {
    /// Largest GIOP message accepted (after fragment reassembly).
    pub max_message: usize,
    /// Close a connection that has received nothing for this long (`None` = never).
    pub idle_timeout: Option<Duration>,
    /// Connections beyond this many are closed as soon as they are accepted.
    pub max_connections: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        use crate::server::{DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_MESSAGE};
        ConnLimits { max_message: DEFAULT_MAX_MESSAGE, idle_timeout: Some(DEFAULT_IDLE_TIMEOUT), max_connections: DEFAULT_MAX_CONNECTIONS }
    }
}

/// The writing side of a connection, shared by its thread (replies) and the server
/// (CloseConnection at shutdown), so the two never interleave bytes.
struct Writer {
    sock: Mutex<TcpStream>,
    /// GIOP minor version of the last message the client sent: the version of our
    /// CloseConnection/MessageError.
    minor: AtomicU8,
}

impl Writer {
    fn send(&self, bytes: &[u8]) -> std::io::Result<()> {
        self.sock.lock().unwrap_or_else(|p| p.into_inner()).write_all(bytes)
    }

    fn version(&self) -> Version {
        Version(self.minor.load(Ordering::Relaxed))
    }

    /// Send a bare control message (CloseConnection, MessageError) and close both directions,
    /// which also wakes the connection's thread from its `recv`.
    fn close_with(&self, kind: MsgType) {
        let s = self.sock.lock().unwrap_or_else(|p| p.into_inner());
        let _ = (&*s).write_all(&giop::encode_bare(self.version(), kind));
        let _ = s.shutdown(Shutdown::Both);
    }
}

/// The open connections of one server: for the connection limit and for an orderly shutdown.
#[derive(Default)]
pub struct Connections {
    open: Mutex<Registry>,
    changed: Condvar,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    by_id: HashMap<u64, Arc<Writer>>,
    stopping: bool,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Serve `sock` on a new thread, unless the limit is reached or the server is stopping
    /// (then the socket is closed at once and `false` returned).
    pub fn serve(self: &Arc<Self>, sock: TcpStream, peer: SocketAddr, d: Arc<Dispatcher>, limits: ConnLimits) -> bool {
        let writer = match sock.try_clone() {
            Ok(w) => Arc::new(Writer { sock: Mutex::new(w), minor: AtomicU8::new(2) }),
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cannot use the new connection");
                return false;
            }
        };
        let id = {
            let mut reg = self.lock();
            if reg.stopping || reg.by_id.len() >= limits.max_connections {
                return false;
            }
            reg.next_id += 1;
            let id = reg.next_id;
            reg.by_id.insert(id, writer.clone());
            id
        };
        let this = self.clone();
        let spawned = std::thread::Builder::new().name("giop-conn".into()).spawn(move || {
            serve_connection(sock, peer, &d, &writer, limits);
            this.lock().by_id.remove(&id);
            this.changed.notify_all();
        });
        if let Err(e) = spawned {
            tracing::warn!(%peer, error = %e, "cannot start a thread for the new connection");
            self.lock().by_id.remove(&id);
            return false;
        }
        true
    }

    /// Send CloseConnection to every client and wait (at most `grace`) for their threads to end.
    pub fn close_all(&self, grace: Duration) {
        let writers: Vec<Arc<Writer>> = {
            let mut reg = self.lock();
            reg.stopping = true;
            reg.by_id.values().cloned().collect()
        };
        for w in writers {
            w.close_with(MsgType::CloseConnection);
        }
        let deadline = Instant::now() + grace;
        let mut reg = self.lock();
        while !reg.by_id.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            reg = self.changed.wait_timeout(reg, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}

/// Requests are served in order (omniORB sends one at a time per connection); different
/// connections run concurrently, and per-device locking is the dispatcher's business.
fn serve_connection(mut sock: TcpStream, peer: SocketAddr, d: &Dispatcher, writer: &Writer, limits: ConnLimits) {
    let splitter = FrameSplitter::new(limits.max_message);
    let mut assembler = Assembler::new(limits.max_message);
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let peer_info = Peer::from_socket(peer);
    let _ = sock.set_nodelay(true);
    // A client that stops reading its replies for as long as the idle timeout is treated as
    // gone too: the send times out and the connection closes instead of holding the thread.
    if sock.set_read_timeout(limits.idle_timeout).and_then(|_| sock.set_write_timeout(limits.idle_timeout)).is_err() {
        tracing::warn!(%peer, "cannot set the idle timeout on this connection");
    }
    tracing::debug!(%peer, "connection opened");
    let mut chunk = vec![0u8; 64 * 1024];
    // Replies to every request that arrived in one read go out in one write: a client that
    // pipelines gets them with one system call instead of one per request.
    let mut out: Vec<u8> = Vec::with_capacity(8192);
    loop {
        let ended = serve_buffered(&mut buf, &mut out, &splitter, &mut assembler, d, writer, &peer_info);
        if !out.is_empty() {
            if writer.send(&out).is_err() {
                return;
            }
            out.clear();
        }
        match ended {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => return reject(writer, peer, e),
        }
        match sock.read(&mut chunk) {
            Ok(0) => {
                tracing::debug!(%peer, "connection closed");
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                let secs = limits.idle_timeout.map_or(0, |t| t.as_secs());
                if buf.is_empty() && assembler.is_idle() {
                    // Between requests: an orderly close the client reconnects from.
                    tracing::debug!(%peer, idle_s = secs, "idle connection: sending CloseConnection");
                    writer.close_with(MsgType::CloseConnection);
                    return;
                }
                // Part of a message arrived and the rest never came.
                return reject(writer, peer, giop::GiopError::Stalled { secs });
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "connection closed");
                return;
            }
        }
    }
}

/// Serve every complete message in `buf`, appending replies to `out`. `Ok(false)` when the
/// client ended the connection, `Err` for input that must be answered with MessageError.
fn serve_buffered(
    buf: &mut Vec<u8>,
    out: &mut Vec<u8>,
    splitter: &FrameSplitter,
    assembler: &mut Assembler,
    d: &Dispatcher,
    writer: &Writer,
    peer: &Peer,
) -> Result<bool, giop::GiopError> {
    let mut served = 0;
    while let Some(n) = splitter.complete_len(&buf[served..])? {
        let msg = buf[served..served + n].to_vec();
        served += n;
        if let Ok(h) = giop::Header::parse(&msg) {
            writer.minor.store(h.version.0, Ordering::Relaxed);
        }
        let Some(whole) = assembler.push(msg)? else { continue };
        let reply = match giop::decode(whole)? {
            Message::Request(req) => d.handle(&req, peer),
            Message::LocateRequest { version, request_id, target } => {
                let here = match target {
                    giop::Target::Key(k) => d.object(&String::from_utf8_lossy(&k)).is_some(),
                    giop::Target::Other(_) => false,
                };
                Some(giop::encode_locate_reply(version, request_id, here as u32))
            }
            Message::CancelRequest { .. } => None,
            Message::CloseConnection => {
                tracing::debug!(peer = %peer.host, "client closed the connection");
                return Ok(false);
            }
            Message::MessageError => {
                tracing::debug!(peer = %peer.host, "client reported a message error");
                return Ok(false);
            }
            Message::Reply(_) | Message::LocateReply { .. } | Message::Fragment { .. } => {
                return Err(giop::GiopError::UnknownMessageType(1))
            }
        };
        if let Some(reply) = reply {
            out.extend_from_slice(&reply);
        }
    }
    buf.drain(..served);
    Ok(true)
}

fn reject(writer: &Writer, peer: SocketAddr, e: giop::GiopError) {
    tracing::warn!(%peer, error = %e, "bad GIOP input: sending MessageError and closing the connection");
    writer.close_with(MsgType::MessageError);
}
