//! Reading the CBF output link map from a CSP subarray attribute (`cspCbfOutlinkAddress`),
//! with the `tango` crate's blocking client: one `read_attributes_5`, bounded by a timeout,
//! no polling (the 2019 device polled for up to 20 s inside Configure).
//!
//! Addresses: `domain/family/member/attribute` (device looked up in the Tango database at
//! `TANGO_HOST`), `tango://host:port/domain/family/member/attribute` (database at host:port),
//! or the same with `#dbase=no` (the device server itself listens at host:port).

use std::time::Duration;

use tango::client::Connection;
use tango::dbclient::{locate_device, DeviceUrl};
use tango::idl::AttrData;

/// Where an attribute lives: a device URL and the attribute's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeAddress {
    pub device: DeviceUrl,
    pub attribute: String,
}

impl AttributeAddress {
    pub fn parse(s: &str) -> Result<AttributeAddress, String> {
        let (device, mut tail) = DeviceUrl::parse_with(s, 1).map_err(|e| {
            format!("{s:?} is not an attribute address (domain/family/member/attribute, optionally tango://host:port/… [#dbase=no]): {e}")
        })?;
        Ok(AttributeAddress { device, attribute: tail.remove(0) })
    }
}

/// Read a string attribute once; errors say what could not be reached or read.
pub fn read_string_attribute(address: &str, timeout: Duration) -> Result<String, String> {
    let a = AttributeAddress::parse(address)?;
    let (endpoint, key) = locate_device(&a.device.to_url(), None, timeout)?;
    let mut conn = Connection::connect(&endpoint, timeout).map_err(|e| format!("cannot reach {}: {e}", a.device.device))?;
    let v = conn.read_attribute(&key, &a.attribute).map_err(|e| format!("cannot read {}/{}: {e}", a.device.device, a.attribute))?;
    match v.value {
        AttrData::String(mut s) if !s.is_empty() => Ok(s.swap_remove(0)),
        AttrData::String(_) => Err(format!("{}/{}: empty value", a.device.device, a.attribute)),
        _ => Err(format!("{}/{} is not a string attribute (its Tango data type number is {})", a.device.device, a.attribute, v.data_type)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = AttributeAddress::parse("mid_csp/elt/subarray01/cbfOutLink").unwrap();
        let d = &a.device;
        assert_eq!(
            (d.host.clone(), d.nodb, d.device.as_str(), a.attribute.as_str()),
            (None, false, "mid_csp/elt/subarray01", "cbfOutLink")
        );
        let a = AttributeAddress::parse("tango://127.0.0.1:1234/a/b/c/x#dbase=no").unwrap();
        assert_eq!((a.device.host.as_deref(), a.device.nodb, a.device.device.as_str()), (Some("127.0.0.1:1234"), true, "a/b/c"));
        assert_eq!(a.device.to_url(), "tango://127.0.0.1:1234/a/b/c#dbase=no");
        assert!(AttributeAddress::parse("a/b/c").is_err());
        assert!(AttributeAddress::parse("a/b/c/x#dbase=no").is_err());
    }
}
