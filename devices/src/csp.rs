//! Reading the CBF output link map from a CSP subarray attribute (`cspCbfOutlinkAddress`),
//! with the `tango` crate's blocking client: one `read_attributes_5`, bounded by a timeout,
//! no polling (the 2019 device polled for up to 20 s inside Configure).
//!
//! Addresses: `domain/family/member/attribute` (device looked up in the Tango database at
//! `TANGO_HOST`), `tango://host:port/domain/family/member/attribute` (database at host:port),
//! or the same with `#dbase=no` (the device server itself listens at host:port).

use std::time::Duration;

use tango::client::Connection;
use tango::dbclient::locate_device;
use tango::idl::AttrData;

/// Where an attribute lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeAddress {
    /// `host:port` of a Tango database, or of the server itself when `nodb`.
    pub host: Option<String>,
    pub nodb: bool,
    pub device: String,
    pub attribute: String,
}

impl AttributeAddress {
    pub fn parse(s: &str) -> Result<AttributeAddress, String> {
        let bad =
            || format!("{s:?} is not an attribute address (domain/family/member/attribute, optionally tango://host:port/… [#dbase=no])");
        let (rest, nodb) = match s.trim().strip_suffix("#dbase=no") {
            Some(r) => (r, true),
            None => (s.trim(), false),
        };
        let (host, path) = match rest.strip_prefix("tango://") {
            Some(r) => {
                let (h, p) = r.split_once('/').ok_or_else(bad)?;
                (Some(h.to_string()), p)
            }
            None => (None, rest),
        };
        let parts: Vec<&str> = path.split('/').collect();
        if parts.len() != 4 || parts.iter().any(|p| p.is_empty()) || (nodb && host.is_none()) {
            return Err(bad());
        }
        Ok(AttributeAddress { host, nodb, device: parts[..3].join("/"), attribute: parts[3].to_string() })
    }
}

/// Read a string attribute once; errors say what could not be reached or read.
pub fn read_string_attribute(address: &str, timeout: Duration) -> Result<String, String> {
    let a = AttributeAddress::parse(address)?;
    let url = match (&a.host, a.nodb) {
        (Some(h), true) => format!("tango://{h}/{}#dbase=no", a.device),
        (Some(h), false) => format!("tango://{h}/{}", a.device),
        (None, _) => a.device.clone(),
    };
    let (endpoint, key) = locate_device(&url, None, timeout)?;
    let mut conn = Connection::connect(&endpoint, timeout).map_err(|e| format!("cannot reach {}: {e}", a.device))?;
    let v = conn.read_attribute(&key, &a.attribute).map_err(|e| format!("cannot read {}/{}: {e}", a.device, a.attribute))?;
    match v.value {
        AttrData::String(mut s) if !s.is_empty() => Ok(s.swap_remove(0)),
        AttrData::String(_) => Err(format!("{}/{}: empty value", a.device, a.attribute)),
        _ => Err(format!("{}/{} is not a string attribute (its Tango data type number is {})", a.device, a.attribute, v.data_type)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = AttributeAddress::parse("mid_csp/elt/subarray01/cbfOutLink").unwrap();
        assert_eq!((a.host, a.nodb, a.device.as_str(), a.attribute.as_str()), (None, false, "mid_csp/elt/subarray01", "cbfOutLink"));
        let a = AttributeAddress::parse("tango://127.0.0.1:1234/a/b/c/x#dbase=no").unwrap();
        assert_eq!((a.host.as_deref(), a.nodb, a.device.as_str()), (Some("127.0.0.1:1234"), true, "a/b/c"));
        assert!(AttributeAddress::parse("a/b/c").is_err());
        assert!(AttributeAddress::parse("a/b/c/x#dbase=no").is_err());
    }
}
