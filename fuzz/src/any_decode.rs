//! The body of the `any_decode` fuzz target: CORBA `any` (TypeCode + value) and the attribute
//! value unions, as command arguments and results arrive from clients and servers.
//!
//! Input: one flag octet, then CDR bytes. Flag bit 0: little-endian (else big-endian, as Java
//! ORBs send); bits 1-3: how many bytes of the alignment origin come before the data (a
//! captured `any` sits at some offset of its message, and CDR alignment counts from the
//! message start). Errors are fine; panics, and values that do not survive our own
//! encode/decode round trip, are bugs.

use tango::any::{decode_any, encode_any, TypeCode};
use tango::cdr::{CdrReader, CdrWriter};
use tango::idl::{AttributeValue_4, AttributeValue_5};

/// Split an input into (alignment-padded buffer, start position, little-endian).
pub fn framed(data: &[u8]) -> Option<(Vec<u8>, usize, bool)> {
    let (&flags, rest) = data.split_first()?;
    let pad = ((flags >> 1) & 7) as usize;
    let mut buf = vec![0u8; pad];
    buf.extend_from_slice(rest);
    Some((buf, pad, flags & 1 == 1))
}

pub fn run(data: &[u8]) {
    let Some((buf, at, le)) = framed(data) else { return };

    // The TypeCode alone: what we decode must encode and decode to the same TypeCode.
    if let Ok(tc) = TypeCode::decode(&mut CdrReader::new(&buf, at, le)) {
        let mut w = CdrWriter::new();
        tc.encode(&mut w);
        let again = TypeCode::decode(&mut CdrReader::new(w.as_bytes(), 0, true));
        assert_eq!(again.as_ref(), Ok(&tc), "TypeCode does not survive encode/decode");
    }

    // The whole any: a value we accept must re-encode to bytes that decode to the same bytes
    // (compared as bytes: NaN != NaN).
    if let Ok(v) = decode_any(&mut CdrReader::new(&buf, at, le)) {
        let mut w = CdrWriter::new();
        encode_any(&mut w, &v);
        let back = decode_any(&mut CdrReader::new(w.as_bytes(), 0, true)).expect("our own any encoding decodes");
        let mut w2 = CdrWriter::new();
        encode_any(&mut w2, &back);
        assert_eq!(w.as_bytes(), w2.as_bytes(), "any does not survive encode/decode: {v:?}");
    }

    // Attribute values: AttrValUnion as servers send it (5) and clients write it (4).
    let _ = CdrReader::new(&buf, at, le).read_seq::<AttributeValue_5>();
    let _ = CdrReader::new(&buf, at, le).read_seq::<AttributeValue_4>();
}
