//! Interoperable Object References: the stringified `IOR:` form, the IIOP profile and the
//! code-set component, plus the corbaloc object keys Tango uses in no-database mode.

use crate::cdr::{CdrError, CdrReader, CdrWriter, Result};

pub const TAG_INTERNET_IOP: u32 = 0;
pub const TAG_ORB_TYPE: u32 = 0;
pub const TAG_CODE_SETS: u32 = 1;
/// ISO-8859-1, the native char code set omniORB negotiates.
pub const CODESET_ISO8859_1: u32 = 0x0001_0001;
pub const CODESET_UTF8: u32 = 0x0501_0001;
pub const CODESET_UTF16: u32 = 0x0001_0109;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedComponent {
    pub tag: u32,
    pub data: Vec<u8>,
}

/// The IIOP profile body (TAG_INTERNET_IOP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IiopProfile {
    pub major: u8,
    pub minor: u8,
    pub host: String,
    pub port: u16,
    pub object_key: Vec<u8>,
    pub components: Vec<TaggedComponent>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Profile {
    Iiop(IiopProfile),
    Other { tag: u32, data: Vec<u8> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ior {
    pub type_id: String,
    pub profiles: Vec<Profile>,
}

impl Ior {
    /// The IOR a Tango server of ours exports: one IIOP 1.2 profile, the object key, and the
    /// code-set component only (no omniORB Unix-socket component, so clients use TCP).
    pub fn for_object(type_id: &str, host: &str, port: u16, object_key: &[u8]) -> Ior {
        Ior {
            type_id: type_id.to_string(),
            profiles: vec![Profile::Iiop(IiopProfile {
                major: 1,
                minor: 2,
                host: host.to_string(),
                port,
                object_key: object_key.to_vec(),
                components: vec![code_sets_component()],
            })],
        }
    }

    /// The first IIOP profile, if any.
    pub fn iiop(&self) -> Option<&IiopProfile> {
        self.profiles.iter().find_map(|p| match p {
            Profile::Iiop(i) => Some(i),
            _ => None,
        })
    }

    pub fn encode_to(&self, w: &mut CdrWriter) {
        w.write_string(&self.type_id);
        w.write_len(self.profiles.len());
        for p in &self.profiles {
            match p {
                Profile::Iiop(i) => {
                    w.write_u32(TAG_INTERNET_IOP);
                    w.write_encapsulation(|e| {
                        e.write_u8(i.major);
                        e.write_u8(i.minor);
                        e.write_string(&i.host);
                        e.write_u16(i.port);
                        e.write_octets(&i.object_key);
                        if i.minor >= 1 {
                            e.write_len(i.components.len());
                            for c in &i.components {
                                e.write_u32(c.tag);
                                e.write_octets(&c.data);
                            }
                        }
                    });
                }
                Profile::Other { tag, data } => {
                    w.write_u32(*tag);
                    w.write_octets(data);
                }
            }
        }
    }

    pub fn decode_from(r: &mut CdrReader<'_>) -> Result<Ior> {
        let type_id = r.read_string()?;
        let n = r.read_len(8)?;
        let mut profiles = Vec::with_capacity(n);
        for _ in 0..n {
            let tag = r.read_u32()?;
            if tag == TAG_INTERNET_IOP {
                let mut e = r.read_encapsulation()?;
                let major = e.read_u8()?;
                let minor = e.read_u8()?;
                let host = e.read_string()?;
                let port = e.read_u16()?;
                let object_key = e.read_octets()?.to_vec();
                let mut components = Vec::new();
                if minor >= 1 && !e.is_empty() {
                    let m = e.read_len(8)?;
                    for _ in 0..m {
                        let tag = e.read_u32()?;
                        let data = e.read_octets()?.to_vec();
                        components.push(TaggedComponent { tag, data });
                    }
                }
                profiles.push(Profile::Iiop(IiopProfile { major, minor, host, port, object_key, components }));
            } else {
                profiles.push(Profile::Other { tag, data: r.read_octets()?.to_vec() });
            }
        }
        Ok(Ior { type_id, profiles })
    }

    /// Parse `IOR:<hex>`.
    pub fn parse(s: &str) -> Result<Ior> {
        let s = s.trim();
        let hex = s
            .strip_prefix("IOR:")
            .or_else(|| s.strip_prefix("ior:"))
            .ok_or_else(|| CdrError::Invalid("IOR string must start with \"IOR:\"".into()))?;
        // Work on bytes, not `str` slices: a non-ASCII character must be an error, not a
        // slice through the middle of a UTF-8 sequence (found by the ior_parse fuzz target).
        let hex = hex.as_bytes();
        if hex.len() % 2 != 0 {
            return Err(CdrError::Invalid("IOR hex has an odd number of digits".into()));
        }
        let digit = |c: u8| (c as char).to_digit(16).ok_or_else(|| CdrError::Invalid("IOR contains a non-hex digit".into()));
        let bytes = hex.chunks(2).map(|p| Ok((digit(p[0])? * 16 + digit(p[1])?) as u8)).collect::<Result<Vec<u8>>>()?;
        // The whole IOR is an encapsulation (byte-order octet first).
        let le = match bytes.first() {
            Some(0) => false,
            Some(1) => true,
            _ => return Err(CdrError::Invalid("IOR has no valid byte-order octet".into())),
        };
        let mut r = CdrReader::new(&bytes, 1, le);
        Ior::decode_from(&mut r)
    }
}

impl std::fmt::Display for Ior {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut w = CdrWriter::new();
        w.write_u8(1);
        self.encode_to(&mut w);
        f.write_str("IOR:")?;
        for b in w.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// TAG_CODE_SETS: char native ISO-8859-1 (conversion UTF-8), wchar native UTF-16.
pub fn code_sets_component() -> TaggedComponent {
    let mut w = CdrWriter::new();
    w.write_u8(1);
    w.write_u32(CODESET_ISO8859_1);
    w.write_len(1);
    w.write_u32(CODESET_UTF8);
    w.write_u32(CODESET_UTF16);
    w.write_len(1);
    w.write_u32(CODESET_UTF16);
    TaggedComponent { tag: TAG_CODE_SETS, data: w.into_bytes() }
}

/// The object key of a device in a corbaloc URL (`corbaloc:iiop:h:p/<key>`): the device name
/// lower-cased. Tango clients lower-case names before building the URL.
pub fn object_key_for(device_name: &str) -> Vec<u8> {
    device_name.to_ascii_lowercase().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ior_string_round_trips() {
        let ior = Ior::for_object("IDL:Tango/Device_5:1.0", "127.0.0.1", 45470, b"test/fake/1");
        let s = ior.to_string();
        assert!(s.starts_with("IOR:01"));
        let back = Ior::parse(&s).unwrap();
        assert_eq!(back, ior);
        let p = back.iiop().unwrap();
        assert_eq!((p.host.as_str(), p.port, p.object_key.as_slice()), ("127.0.0.1", 45470, &b"test/fake/1"[..]));
    }

    #[test]
    fn rejects_bad_strings() {
        assert!(Ior::parse("corbaloc:iiop:x").is_err());
        assert!(Ior::parse("IOR:0").is_err());
        assert!(Ior::parse("IOR:zz").is_err());
        assert!(Ior::parse("IOR:01ffffffff").is_err());
        // non-ASCII where hex digits belong (a panic on a char boundary before)
        assert!(Ior::parse("IOR:0ÿ").is_err());
        assert!(Ior::parse("IOR:ÿÿ0100").is_err());
        assert!(Ior::parse("IOR:+1").is_err());
    }

    #[test]
    fn object_keys_are_lower_case() {
        assert_eq!(object_key_for("dserver/SDPSubarray/test"), b"dserver/sdpsubarray/test");
    }
}
