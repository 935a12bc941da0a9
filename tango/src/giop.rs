//! GIOP 1.0/1.1/1.2 framing, sans-IO.
//!
//! [`FrameSplitter`] cuts a byte stream into whole GIOP messages, [`Assembler`] joins GIOP 1.2
//! fragments, [`decode`] turns one message into a [`Message`], and the `encode_*` functions
//! build replies. Nothing here touches a socket: the server runtime feeds bytes in and writes
//! the bytes that come out.

use crate::cdr::{CdrError, CdrReader, CdrWriter};

pub const MAGIC: &[u8; 4] = b"GIOP";
pub const HEADER_LEN: usize = 12;

/// GIOP minor version (major is always 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u8);

impl Version {
    pub const V1_0: Version = Version(0);
    pub const V1_1: Version = Version(1);
    pub const V1_2: Version = Version(2);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MsgType {
    Request = 0,
    Reply = 1,
    CancelRequest = 2,
    LocateRequest = 3,
    LocateReply = 4,
    CloseConnection = 5,
    MessageError = 6,
    Fragment = 7,
}

impl MsgType {
    fn from_u8(v: u8) -> Option<Self> {
        use MsgType::*;
        Some(match v {
            0 => Request,
            1 => Reply,
            2 => CancelRequest,
            3 => LocateRequest,
            4 => LocateReply,
            5 => CloseConnection,
            6 => MessageError,
            7 => Fragment,
            _ => return None,
        })
    }
}

/// Why bytes could not be understood as GIOP. The connection answers MessageError and closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GiopError {
    BadMagic,
    UnsupportedVersion(u8, u8),
    UnknownMessageType(u8),
    TooLarge {
        size: usize,
        max: usize,
    },
    /// A Fragment that continues no message, or a fragment chain for another request.
    UnexpectedFragment,
    /// Fragments are not allowed in GIOP 1.0.
    FragmentInV10,
    /// Part of a message arrived and the rest did not come within the idle timeout.
    Stalled {
        secs: u64,
    },
    Cdr(CdrError),
}

impl std::fmt::Display for GiopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GiopError::BadMagic => f.write_str("not a GIOP message (bad magic)"),
            GiopError::UnsupportedVersion(a, b) => write!(f, "unsupported GIOP version {a}.{b}"),
            GiopError::UnknownMessageType(t) => write!(f, "unknown GIOP message type {t}"),
            GiopError::TooLarge { size, max } => write!(f, "message of {size} bytes exceeds the maximum {max}"),
            GiopError::UnexpectedFragment => f.write_str("fragment without a message to continue"),
            GiopError::FragmentInV10 => f.write_str("fragment flag in GIOP 1.0"),
            GiopError::Stalled { secs } => write!(f, "incomplete message: nothing more arrived for {secs} s"),
            GiopError::Cdr(e) => write!(f, "malformed message: {e}"),
        }
    }
}

impl std::error::Error for GiopError {}

impl From<CdrError> for GiopError {
    fn from(e: CdrError) -> Self {
        GiopError::Cdr(e)
    }
}

/// The 12-byte message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: Version,
    pub little_endian: bool,
    pub more_fragments: bool,
    pub msg_type: MsgType,
    pub body_size: u32,
}

impl Header {
    /// Check-then-parse a header; needs at least 12 bytes.
    pub fn parse(b: &[u8]) -> Result<Header, GiopError> {
        if b.len() < HEADER_LEN {
            return Err(GiopError::Cdr(CdrError::Truncated { at: 0, need: HEADER_LEN, left: b.len() }));
        }
        if &b[0..4] != MAGIC {
            return Err(GiopError::BadMagic);
        }
        let (major, minor) = (b[4], b[5]);
        if major != 1 || minor > 2 {
            return Err(GiopError::UnsupportedVersion(major, minor));
        }
        let flags = b[6];
        let little_endian = flags & 1 == 1;
        let more_fragments = minor >= 1 && flags & 2 == 2;
        let msg_type = MsgType::from_u8(b[7]).ok_or(GiopError::UnknownMessageType(b[7]))?;
        let size = [b[8], b[9], b[10], b[11]];
        let body_size = if little_endian { u32::from_le_bytes(size) } else { u32::from_be_bytes(size) };
        Ok(Header { version: Version(minor), little_endian, more_fragments, msg_type, body_size })
    }
}

/// Cuts a byte stream into complete GIOP messages, rejecting oversized ones from their header
/// alone (before buffering their bodies).
pub struct FrameSplitter {
    max_message: usize,
}

impl FrameSplitter {
    pub fn new(max_message: usize) -> Self {
        FrameSplitter { max_message }
    }

    /// If `buf` starts with a whole message, return its length.
    pub fn complete_len(&self, buf: &[u8]) -> Result<Option<usize>, GiopError> {
        if buf.len() < HEADER_LEN {
            // Reject garbage early once the magic is visibly wrong.
            let n = buf.len().min(4);
            if buf[..n] != MAGIC[..n] {
                return Err(GiopError::BadMagic);
            }
            return Ok(None);
        }
        let h = Header::parse(buf)?;
        let total = HEADER_LEN + h.body_size as usize;
        if total > self.max_message {
            return Err(GiopError::TooLarge { size: total, max: self.max_message });
        }
        Ok(if buf.len() >= total { Some(total) } else { None })
    }
}

/// Joins GIOP 1.1/1.2 fragment chains into one message whose header says "no more fragments".
///
/// Each non-last part is a multiple of 8 bytes and a 1.2 fragment header is 16 bytes, so
/// appending `fragment[16..]` keeps the CDR alignment of the continued stream.
#[derive(Default)]
pub struct Assembler {
    pending: Option<Vec<u8>>,
    max_message: usize,
}

impl Assembler {
    pub fn new(max_message: usize) -> Self {
        Assembler { pending: None, max_message }
    }

    /// No fragmented message is waiting for its next fragment.
    pub fn is_idle(&self) -> bool {
        self.pending.is_none()
    }

    /// Feed one complete message (as cut by [`FrameSplitter`]). Returns the whole message
    /// when it is complete.
    pub fn push(&mut self, msg: Vec<u8>) -> Result<Option<Vec<u8>>, GiopError> {
        let h = Header::parse(&msg)?;
        if h.msg_type == MsgType::Fragment {
            let mut first = self.pending.take().ok_or(GiopError::UnexpectedFragment)?;
            let skip = if h.version >= Version::V1_2 { HEADER_LEN + 4 } else { HEADER_LEN };
            if msg.len() < skip {
                return Err(GiopError::Cdr(CdrError::Truncated { at: 0, need: skip, left: msg.len() }));
            }
            if h.version >= Version::V1_2 {
                let id_bytes: [u8; 4] = msg[12..16].try_into().unwrap();
                let first_h = Header::parse(&first)?;
                let frag_id = if h.little_endian { u32::from_le_bytes(id_bytes) } else { u32::from_be_bytes(id_bytes) };
                let first_id = first_request_id(&first, &first_h);
                if first_id.is_some_and(|id| id != frag_id) {
                    return Err(GiopError::UnexpectedFragment);
                }
            }
            if first.len() + msg.len() - skip > self.max_message {
                return Err(GiopError::TooLarge { size: first.len() + msg.len() - skip, max: self.max_message });
            }
            first.extend_from_slice(&msg[skip..]);
            if h.more_fragments {
                self.pending = Some(first);
                return Ok(None);
            }
            // rewrite the header: whole body size, fragment bit cleared
            let body = (first.len() - HEADER_LEN) as u32;
            let le = first[6] & 1 == 1;
            first[6] &= !2;
            first[8..12].copy_from_slice(&if le { body.to_le_bytes() } else { body.to_be_bytes() });
            return Ok(Some(first));
        }
        if self.pending.is_some() {
            // A new message while a chain is open: the chain was abandoned (CancelRequest
            // semantics) — but we cannot interleave in GIOP 1.2 without ids; keep it simple
            // and reject an interleaved chain only if this one also fragments.
            if h.more_fragments {
                return Err(GiopError::UnexpectedFragment);
            }
        }
        if h.more_fragments {
            if h.version == Version::V1_0 {
                return Err(GiopError::FragmentInV10);
            }
            self.pending = Some(msg);
            return Ok(None);
        }
        Ok(Some(msg))
    }
}

fn first_request_id(msg: &[u8], h: &Header) -> Option<u32> {
    if h.version < Version::V1_2 {
        return None;
    }
    let mut r = CdrReader::new(msg, HEADER_LEN, h.little_endian);
    r.read_u32().ok()
}

/// `IOP::ServiceContext`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceContext {
    pub id: u32,
    pub data: Vec<u8>,
}

fn read_contexts(r: &mut CdrReader<'_>) -> Result<Vec<ServiceContext>, CdrError> {
    let n = r.read_len(8)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let id = r.read_u32()?;
        let data = r.read_octets()?.to_vec();
        v.push(ServiceContext { id, data });
    }
    Ok(v)
}

/// How a GIOP 1.2 request names its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Key(Vec<u8>),
    /// ProfileAddr / ReferenceAddr: we answer NEEDS_ADDRESSING_MODE.
    Other(i16),
}

/// A decoded Request. The body stays in `bytes` so it can be decoded with the alignment
/// origin at the message start.
#[derive(Debug, Clone)]
pub struct Request {
    pub version: Version,
    pub little_endian: bool,
    pub request_id: u32,
    pub response_expected: bool,
    pub target: Target,
    pub operation: String,
    pub service_context: Vec<ServiceContext>,
    pub bytes: Vec<u8>,
    pub body_offset: usize,
}

impl Request {
    /// A reader over the arguments.
    pub fn body(&self) -> CdrReader<'_> {
        CdrReader::new(&self.bytes, self.body_offset.min(self.bytes.len()), self.little_endian)
    }

    pub fn object_key(&self) -> Option<&[u8]> {
        match &self.target {
            Target::Key(k) => Some(k),
            Target::Other(_) => None,
        }
    }
}

/// Reply status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ReplyStatus {
    NoException = 0,
    UserException = 1,
    SystemException = 2,
    LocationForward = 3,
    LocationForwardPerm = 4,
    NeedsAddressingMode = 5,
}

/// A decoded Reply (used by clients and the golden tests).
#[derive(Debug, Clone)]
pub struct Reply {
    pub version: Version,
    pub little_endian: bool,
    pub request_id: u32,
    pub status: u32,
    pub service_context: Vec<ServiceContext>,
    pub bytes: Vec<u8>,
    pub body_offset: usize,
}

impl Reply {
    pub fn body(&self) -> CdrReader<'_> {
        CdrReader::new(&self.bytes, self.body_offset.min(self.bytes.len()), self.little_endian)
    }
}

/// One GIOP message.
#[derive(Debug, Clone)]
pub enum Message {
    Request(Request),
    Reply(Reply),
    CancelRequest {
        request_id: u32,
    },
    LocateRequest {
        version: Version,
        request_id: u32,
        target: Target,
    },
    LocateReply {
        request_id: u32,
        status: u32,
    },
    CloseConnection,
    MessageError,
    /// A fragment seen on its own (only when not using [`Assembler`]).
    Fragment {
        more: bool,
    },
}

/// Decode one whole (reassembled) message.
pub fn decode(bytes: Vec<u8>) -> Result<Message, GiopError> {
    let h = Header::parse(&bytes)?;
    if bytes.len() < HEADER_LEN + h.body_size as usize {
        return Err(GiopError::Cdr(CdrError::Truncated { at: HEADER_LEN, need: h.body_size as usize, left: bytes.len() - HEADER_LEN }));
    }
    let le = h.little_endian;
    let mut r = CdrReader::new(&bytes[..HEADER_LEN + h.body_size as usize], HEADER_LEN, le);
    Ok(match h.msg_type {
        MsgType::Request => {
            let (request_id, response_expected, target, operation, service_context);
            if h.version >= Version::V1_2 {
                request_id = r.read_u32()?;
                let flags = r.read_u8()?;
                response_expected = flags & 1 == 1;
                r.take(3)?;
                target = read_target(&mut r)?;
                operation = r.read_string()?;
                service_context = read_contexts(&mut r)?;
                // body aligned to 8, only if there is one
                if r.remaining() > 0 {
                    r.align(8)?;
                }
            } else {
                service_context = read_contexts(&mut r)?;
                request_id = r.read_u32()?;
                response_expected = r.read_bool()?;
                if h.version == Version::V1_1 {
                    r.take(3)?;
                }
                target = Target::Key(r.read_octets()?.to_vec());
                operation = r.read_string()?;
                let _principal = r.read_octets()?;
            }
            let body_offset = r.position();
            Message::Request(Request {
                version: h.version,
                little_endian: le,
                request_id,
                response_expected,
                target,
                operation,
                service_context,
                bytes,
                body_offset,
            })
        }
        MsgType::Reply => {
            let (request_id, status, service_context);
            if h.version >= Version::V1_2 {
                request_id = r.read_u32()?;
                status = r.read_u32()?;
                service_context = read_contexts(&mut r)?;
                if r.remaining() > 0 {
                    r.align(8)?;
                }
            } else {
                service_context = read_contexts(&mut r)?;
                request_id = r.read_u32()?;
                status = r.read_u32()?;
            }
            let body_offset = r.position();
            Message::Reply(Reply { version: h.version, little_endian: le, request_id, status, service_context, bytes, body_offset })
        }
        MsgType::CancelRequest => Message::CancelRequest { request_id: r.read_u32()? },
        MsgType::LocateRequest => {
            let request_id = r.read_u32()?;
            let target = if h.version >= Version::V1_2 { read_target(&mut r)? } else { Target::Key(r.read_octets()?.to_vec()) };
            Message::LocateRequest { version: h.version, request_id, target }
        }
        MsgType::LocateReply => Message::LocateReply { request_id: r.read_u32()?, status: r.read_u32()? },
        MsgType::CloseConnection => Message::CloseConnection,
        MsgType::MessageError => Message::MessageError,
        MsgType::Fragment => Message::Fragment { more: h.more_fragments },
    })
}

fn read_target(r: &mut CdrReader<'_>) -> Result<Target, CdrError> {
    let disc = r.read_i16()?;
    Ok(match disc {
        0 => Target::Key(r.read_octets()?.to_vec()),
        1 => {
            // IOP::TaggedProfile {ulong tag; sequence<octet> data}
            r.read_u32()?;
            r.read_octets()?;
            Target::Other(1)
        }
        2 => {
            // {ulong selected_profile_index; IOR ior}
            r.read_u32()?;
            crate::ior::Ior::decode_from(r)?;
            Target::Other(2)
        }
        d => return Err(CdrError::BadDiscriminant { what: "TargetAddress", value: d as i64 }),
    })
}

fn header(w: &mut CdrWriter, version: Version, t: MsgType) {
    w.write_raw(MAGIC);
    w.write_u8(1);
    w.write_u8(version.0);
    w.write_u8(1); // little-endian (1.0: byte_order = TRUE)
    w.write_u8(t as u8);
    w.write_u32(0); // size, patched by finish()
}

fn finish(mut w: CdrWriter) -> Vec<u8> {
    let size = (w.len() - HEADER_LEN) as u32;
    w.as_mut_bytes()[8..12].copy_from_slice(&size.to_le_bytes());
    w.into_bytes()
}

/// Where a reply's body starts when it carries no service contexts, in every GIOP version:
/// the 12-byte message header and the 12-byte reply header. A multiple of 8, so CDR
/// alignment inside the body is the same whether counted from here or from the message start.
pub const REPLY_BODY_OFFSET: usize = 24;

/// A writer for a reply's body with room for the headers in front, which [`finish_reply`]
/// fills in once the outcome is known: the body is encoded once, where it will be sent from.
pub fn reply_body_writer() -> CdrWriter {
    let mut w = CdrWriter::with_capacity(1024);
    w.write_raw(&[0; REPLY_BODY_OFFSET]);
    w
}

/// Complete a reply whose body was written after [`reply_body_writer`]'s reserved bytes:
/// a Reply in `version` with an empty service context list.
pub fn finish_reply(version: Version, request_id: u32, status: ReplyStatus, mut w: CdrWriter) -> Vec<u8> {
    let mut h = CdrWriter::with_capacity(REPLY_BODY_OFFSET);
    header(&mut h, version, MsgType::Reply);
    if version >= Version::V1_2 {
        h.write_u32(request_id);
        h.write_u32(status as u32);
        h.write_u32(0);
    } else {
        h.write_u32(0);
        h.write_u32(request_id);
        h.write_u32(status as u32);
    }
    debug_assert_eq!(h.len(), REPLY_BODY_OFFSET);
    w.as_mut_bytes()[..REPLY_BODY_OFFSET].copy_from_slice(h.as_bytes());
    finish(w)
}

/// Build a Reply in `version` with an empty service context list; `body` writes the result
/// (alignment origin = message start, as the client decodes it).
pub fn encode_reply(version: Version, request_id: u32, status: ReplyStatus, body: impl FnOnce(&mut CdrWriter)) -> Vec<u8> {
    let mut w = reply_body_writer();
    body(&mut w);
    finish_reply(version, request_id, status, w)
}

/// A CORBA system exception reply body.
pub fn encode_system_exception(version: Version, request_id: u32, name: &str, minor: u32, completed: u32) -> Vec<u8> {
    encode_reply(version, request_id, ReplyStatus::SystemException, |w| {
        w.write_string(&format!("IDL:omg.org/CORBA/{name}:1.0"));
        w.write_u32(minor);
        w.write_u32(completed);
    })
}

/// LocateReply: 0 UNKNOWN_OBJECT, 1 OBJECT_HERE.
pub fn encode_locate_reply(version: Version, request_id: u32, status: u32) -> Vec<u8> {
    let mut w = CdrWriter::new();
    header(&mut w, version, MsgType::LocateReply);
    w.write_u32(request_id);
    w.write_u32(status);
    finish(w)
}

/// A header-only message (CloseConnection, MessageError).
pub fn encode_bare(version: Version, t: MsgType) -> Vec<u8> {
    let mut w = CdrWriter::new();
    header(&mut w, version, t);
    finish(w)
}

/// Build a Request (used by our own clients and tests).
pub fn encode_request(
    version: Version,
    request_id: u32,
    response_expected: bool,
    object_key: &[u8],
    operation: &str,
    body: impl FnOnce(&mut CdrWriter),
) -> Vec<u8> {
    let mut w = CdrWriter::with_capacity(128);
    header(&mut w, version, MsgType::Request);
    if version >= Version::V1_2 {
        w.write_u32(request_id);
        w.write_u8(if response_expected { 3 } else { 0 });
        w.write_raw(&[0, 0, 0]);
        w.write_i16(0);
        w.write_octets(object_key);
        w.write_string(operation);
        w.write_u32(0);
        let mut b = CdrWriter::new();
        body(&mut b);
        if !b.is_empty() {
            // The body starts at a multiple of 8 from the message start and the scratch
            // writer's origin is 0, so its bytes are already aligned and can be copied.
            w.align(8);
            w.write_raw(b.as_bytes());
        }
    } else {
        w.write_u32(0);
        w.write_u32(request_id);
        w.write_bool(response_expected);
        if version == Version::V1_1 {
            w.write_raw(&[0, 0, 0]);
        }
        w.write_octets(object_key);
        w.write_string(operation);
        w.write_u32(0);
        body(&mut w);
    }
    finish(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_request_from_capture_decodes() {
        let b = hex("47494f500100010053000000000000000200000001303030160000006d69645f7364702f656c742f73756261727261795f316c6f060000005f69735f6100323a000000001700000049444c3a54616e676f2f4465766963655f363a312e3000");
        let Message::Request(r) = decode(b).unwrap() else { panic!() };
        assert_eq!(r.version, Version::V1_0);
        assert_eq!(r.request_id, 2);
        assert!(r.response_expected);
        assert_eq!(r.object_key().unwrap(), b"mid_sdp/elt/subarray_1");
        assert_eq!(r.operation, "_is_a");
        assert_eq!(r.body().read_string().unwrap(), "IDL:Tango/Device_6:1.0");
    }

    #[test]
    fn reply_layout_matches_capture() {
        let b = encode_reply(Version::V1_0, 2, ReplyStatus::NoException, |w| w.write_bool(true));
        assert_eq!(b, hex("47494f50010001010d00000000000000020000000000000001"));
    }

    #[test]
    fn request_round_trips_in_every_version() {
        for v in [Version::V1_0, Version::V1_1, Version::V1_2] {
            let b = encode_request(v, 9, true, b"a/b/c", "op", |w| {
                w.write_string("x");
                w.write_f64(1.5)
            });
            let Message::Request(r) = decode(b).unwrap() else { panic!() };
            assert_eq!((r.request_id, r.operation.as_str()), (9, "op"));
            let mut body = r.body();
            assert_eq!(body.read_string().unwrap(), "x");
            assert_eq!(body.read_f64().unwrap(), 1.5);
        }
    }

    #[test]
    fn fragments_are_joined() {
        let whole = encode_request(Version::V1_2, 4, true, b"k", "op", |w| {
            for i in 0..100u32 {
                w.write_u32(i)
            }
        });
        // split: first part = 48 bytes (multiple of 8) with the more flag
        let mut first = whole[..48].to_vec();
        first[6] |= 2;
        first[8..12].copy_from_slice(&((48 - 12) as u32).to_le_bytes());
        let mut frag = vec![b'G', b'I', b'O', b'P', 1, 2, 1, 7];
        let rest = &whole[48..];
        frag.extend_from_slice(&((4 + rest.len()) as u32).to_le_bytes());
        frag.extend_from_slice(&4u32.to_le_bytes());
        frag.extend_from_slice(rest);
        let mut a = Assembler::new(1 << 20);
        assert!(a.push(first).unwrap().is_none());
        let joined = a.push(frag).unwrap().unwrap();
        assert_eq!(joined, whole);
    }

    #[test]
    fn splitter_rejects_garbage_and_oversize() {
        let s = FrameSplitter::new(100);
        assert_eq!(s.complete_len(b"HTTP"), Err(GiopError::BadMagic));
        assert_eq!(s.complete_len(b"GI").unwrap(), None);
        let mut big = b"GIOP\x01\x02\x01\x00".to_vec();
        big.extend_from_slice(&1000u32.to_le_bytes());
        assert!(matches!(s.complete_len(&big), Err(GiopError::TooLarge { .. })));
        let mut v3 = b"GIOP\x01\x03\x01\x00".to_vec();
        v3.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(s.complete_len(&v3), Err(GiopError::UnsupportedVersion(1, 3)));
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
}
