//! The body of the `giop_decode` fuzz target, free of libFuzzer so that it can also run as a
//! plain test over the seeds (`tango/tests/fuzz_seeds.rs` includes this file).
//!
//! Input: a byte stream as a client sends it to a server (one or more GIOP messages, GIOP 1.2
//! fragments allowed). Every whole message is decoded; Requests go to a `Dispatcher` hosting
//! `TestDevice` `mid_sdp/elt/subarray_1` and the admin device `dserver/SDPSubarray/test`;
//! our reply must decode again. Replies in the input get their body decoded as an `any` and
//! as attribute values (the client side decoders). Errors are fine; panics are bugs.

use tango::cdr::CdrReader;
use tango::dispatch::{Dispatcher, Peer};
use tango::giop::{self, Assembler, FrameSplitter, Message, Target};
use tango::idl::AttributeValue_5;

pub const DEVICE: &str = "mid_sdp/elt/subarray_1";
pub const ADMIN: &str = "dserver/SDPSubarray/test";
const MAX: usize = 1 << 20;

pub fn dispatcher() -> Dispatcher {
    tango::test_device::sans_io_dispatcher("SDPSubarray", "test", DEVICE, "fuzz")
}

pub fn run(data: &[u8]) {
    // A fresh server per input, so every crash reproduces from its input alone.
    let d = dispatcher();
    let splitter = FrameSplitter::new(MAX);
    let mut asm = Assembler::new(MAX);
    let mut buf = data;
    while let Ok(Some(n)) = splitter.complete_len(buf) {
        let (msg, rest) = buf.split_at(n);
        buf = rest;
        let whole = match asm.push(msg.to_vec()) {
            Ok(Some(w)) => w,
            Ok(None) => continue,
            Err(_) => break, // the server answers MessageError and closes
        };
        match giop::decode(whole) {
            Ok(Message::Request(mut req)) => {
                // Seeds from the `db` capture address objects by omniORB keys (0xfe...); aim
                // them at our objects like the golden replay does (last byte 1 = admin).
                if let Target::Key(k) = &req.target {
                    if k.first() == Some(&0xfe) {
                        let name = if k.last() == Some(&1) { ADMIN } else { DEVICE };
                        req.target = Target::Key(name.as_bytes().to_vec());
                    }
                }
                if let Some(reply) = d.handle(&req, &Peer::default()) {
                    match giop::decode(reply) {
                        Ok(Message::Reply(r)) => assert_eq!(r.request_id, req.request_id),
                        other => panic!("our reply to {} does not decode: {other:?}", req.operation),
                    }
                }
            }
            Ok(Message::Reply(rep)) => {
                let _ = tango::any::decode_any(&mut rep.body());
                let _ = rep.body().read_seq::<AttributeValue_5>();
                let _ = CdrReader::new(&rep.bytes, rep.body_offset.min(rep.bytes.len()), !rep.little_endian).read_string();
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
}
