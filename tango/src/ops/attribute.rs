//! Attribute values: `read_attributes_3/4/5`, `write_attributes_4`,
//! `write_read_attributes_4/5`, and the conversions to the older value types.

use super::{lock, read_if, Call, Handled};
use crate::any::CmdValue;
use crate::cdr::{CdrError, CdrReader};
use crate::dispatch::{ok, Outcome};
use crate::idl::*;
use crate::object::Detail;
use crate::polling::{PollKind, Polled};

/// The operations of this family the black box records.
#[rustfmt::skip]
pub(crate) const OPS: &[&str] = &["read_attributes_3", "read_attributes_4", "read_attributes_5", "write_attributes_4", "write_read_attributes_4", "write_read_attributes_5"];

pub(crate) fn handle(c: &Call<'_>, r: &mut CdrReader<'_>) -> Handled {
    run(c, r).transpose()
}

fn run(c: &Call<'_>, r: &mut CdrReader<'_>) -> Result<Option<Outcome>, CdrError> {
    let obj = c.obj;
    Ok(Some(match c.op {
        "read_attributes_5" | "read_attributes_4" | "read_attributes_3" => {
            let names: Vec<String> = r.read_seq()?;
            let source = r.read::<DevSource>()?;
            let ident = read_if::<ClntIdent>(r, c.op != "read_attributes_3")?;
            c.record(Detail::Attrs(names.clone()), ident.as_ref());
            let vals = read(c, &names, source);
            encode_values(c.op == "read_attributes_5", c.op == "read_attributes_3", vals)
        }
        "write_attributes_4" => {
            let vals: Vec<AttributeValue_4> = r.read_seq()?;
            let ident = r.read::<ClntIdent>()?;
            c.record(Detail::Attrs(names_of(&vals)), Some(&ident));
            if let Err(e) = lock::check(c, &lock::caller(c, Some(&ident)), "write_attributes_4") {
                return Ok(Some(Outcome::User(e)));
            }
            match obj.write_attributes(vals) {
                Ok(()) => ok(|_| {}),
                Err(errs) => Outcome::MultiDevFailed(errs),
            }
        }
        "write_read_attributes_5" | "write_read_attributes_4" => {
            let vals: Vec<AttributeValue_4> = r.read_seq()?;
            let r_names: Vec<String> = if c.op == "write_read_attributes_5" { r.read_seq()? } else { names_of(&vals) };
            let ident = r.read::<ClntIdent>()?;
            c.record(Detail::Attrs(names_of(&vals)), Some(&ident));
            let method = if c.op == "write_read_attributes_5" { "write_read_attributes_5" } else { "write_read_attributes_4" };
            if let Err(e) = lock::check(c, &lock::caller(c, Some(&ident)), method) {
                return Ok(Some(Outcome::User(e)));
            }
            match obj.write_attributes(vals) {
                Err(errs) => Outcome::MultiDevFailed(errs),
                Ok(()) => encode_values(c.op == "write_read_attributes_5", false, obj.read_attributes(&r_names)),
            }
        }
        _ => return Ok(None),
    }))
}

/// Read `names` from the device, or from the polling buffers: always for source CACHE (an
/// error value when the attribute is not polled), for CACHE_DEV when polling is configured
/// for the attribute. Attributes read from the device are read together.
fn read(c: &Call<'_>, names: &[String], source: DevSource) -> Vec<AttributeValue_5> {
    let polling = &c.obj.services().polling;
    // PyTango reads with CACHE_DEV: without configured polling that is a plain read
    if source == DevSource::DEV || (source == DevSource::CACHE_DEV && !polling.any_configured()) {
        return c.obj.read_attributes(names);
    }
    let mut out: Vec<Option<AttributeValue_5>> = names
        .iter()
        .map(|n| match polling.latest(PollKind::Attribute, n, source == DevSource::CACHE_DEV) {
            Some(Some(rec)) => match rec.value {
                Polled::Attr(v) => Some(v),
                Polled::Cmd(_) => None,
            },
            Some(None) => Some(error_value(n, "API_NoDataYet", format!("No data available in cache for attribute {n}"))),
            None if source == DevSource::CACHE => {
                Some(error_value(n, "API_AttrNotPolled", format!("Attribute {n} not polled: a read from CACHE needs a polled attribute")))
            }
            None => None,
        })
        .collect();
    let live: Vec<String> = names.iter().zip(&out).filter(|(_, v)| v.is_none()).map(|(n, _)| n.clone()).collect();
    if !live.is_empty() {
        let mut fresh = c.obj.read_attributes(&live).into_iter();
        for slot in out.iter_mut().filter(|v| v.is_none()) {
            *slot = fresh.next();
        }
    }
    out.into_iter().flatten().collect()
}

fn error_value(name: &str, reason: &str, desc: String) -> AttributeValue_5 {
    crate::object::error_value(name, DevFailed::new(reason, desc, "Device_3Impl::read_attributes_from_cache"))
}

/// Values as `AttributeValue_5`, `_4` or `_3` sequences.
fn encode_values(v5: bool, v3: bool, vals: Vec<AttributeValue_5>) -> Outcome {
    if v5 {
        ok(|w| w.write_seq(&vals))
    } else if v3 {
        let v3: Vec<AttributeValue_3> = vals.into_iter().map(to_v3).collect();
        ok(|w| w.write_seq(&v3))
    } else {
        let v4: Vec<AttributeValue_4> = vals.into_iter().map(AttributeValue_4::from).collect();
        ok(|w| w.write_seq(&v4))
    }
}

fn names_of(v: &[AttributeValue_4]) -> Vec<String> {
    v.iter().map(|a| a.name.clone()).collect()
}

/// IDL 3 attribute values carry an `any` with a sequence type.
pub(crate) fn to_v3(v: AttributeValue_5) -> AttributeValue_3 {
    AttributeValue_3 {
        value: data_to_any(v.value),
        quality: v.quality,
        time: v.time,
        name: v.name,
        r_dim: v.r_dim,
        w_dim: v.w_dim,
        err_list: v.err_list,
    }
}

/// Attribute data as the sequence-typed `any` IDL 3 values and histories carry.
pub(crate) fn data_to_any(d: AttrData) -> CmdValue {
    match d {
        AttrData::Bool(x) => CmdValue::BooleanArray(x),
        AttrData::Short(x) => CmdValue::ShortArray(x),
        AttrData::Long(x) => CmdValue::LongArray(x),
        AttrData::Long64(x) => CmdValue::Long64Array(x),
        AttrData::Float(x) => CmdValue::FloatArray(x),
        AttrData::Double(x) => CmdValue::DoubleArray(x),
        AttrData::UChar(x) => CmdValue::CharArray(x),
        AttrData::UShort(x) => CmdValue::UShortArray(x),
        AttrData::ULong(x) => CmdValue::ULongArray(x),
        AttrData::ULong64(x) => CmdValue::ULong64Array(x),
        AttrData::String(x) => CmdValue::StringArray(x),
        AttrData::State(x) => CmdValue::StateArray(x),
        AttrData::DeviceState(s) => CmdValue::State(s),
        AttrData::Encoded(mut x) if x.len() == 1 => CmdValue::Encoded(x.remove(0)),
        AttrData::Encoded(_) | AttrData::NoData => CmdValue::Void,
    }
}
