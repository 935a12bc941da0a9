//! The body of the `ior_parse` fuzz target: Interoperable Object References, both as the
//! `IOR:<hex>` strings the Tango database hands out (DbImportDevice, DbExportDevice) and as
//! CDR inside a message (IOR profiles, tagged components).
//!
//! Input: one flag octet, then the data. Flag bit 0 clear: the data is a string (ISO-8859-1,
//! as a CDR string arrives) for `Ior::parse`; set: CDR for `Ior::decode_from`, bit 1 giving
//! the byte order (set = little-endian). An IOR we accept must survive our own encoding.
//! Errors are fine; panics are bugs.

use tango::cdr::{latin1_to_string, CdrReader, CdrWriter};
use tango::ior::Ior;

pub fn run(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else { return };
    let ior =
        if flags & 1 == 0 { Ior::parse(&latin1_to_string(rest)) } else { Ior::decode_from(&mut CdrReader::new(rest, 0, flags & 2 == 2)) };
    let Ok(ior) = ior else { return };

    let text = ior.to_string();
    assert_eq!(Ior::parse(&text).as_ref(), Ok(&ior), "IOR does not survive to_string/parse");
    let mut w = CdrWriter::new();
    ior.encode_to(&mut w);
    assert_eq!(Ior::decode_from(&mut CdrReader::new(w.as_bytes(), 0, true)).as_ref(), Ok(&ior), "IOR does not survive CDR");
    let _ = ior.iiop();
}
