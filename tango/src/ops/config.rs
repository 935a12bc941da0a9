//! Attribute configuration: `get_attribute_config_3/5` and `set_attribute_config_5`.

use super::{lock, Call, Handled};
use crate::cdr::{CdrError, CdrReader};
use crate::dispatch::{ok, Outcome};
use crate::idl::*;
use crate::object::Detail;

/// The operations of this family the black box records.
#[rustfmt::skip]
pub(crate) const OPS: &[&str] = &["get_attribute_config_3", "get_attribute_config_5", "set_attribute_config_5"];

pub(crate) fn handle(c: &Call<'_>, r: &mut CdrReader<'_>) -> Handled {
    run(c, r).transpose()
}

fn run(c: &Call<'_>, r: &mut CdrReader<'_>) -> Result<Option<Outcome>, CdrError> {
    let obj = c.obj;
    Ok(Some(match c.op {
        "get_attribute_config_5" | "get_attribute_config_3" => {
            let names: Vec<String> = r.read_seq()?;
            c.record(Detail::None, None);
            match obj.attribute_config(&names) {
                Err(e) => Outcome::User(e),
                Ok(cfg) if c.op == "get_attribute_config_5" => ok(|w| w.write_seq(&cfg)),
                Ok(cfg) => {
                    let c3: Vec<AttributeConfig_3> = cfg.iter().map(|c| AttributeConfig_3::from(&**c)).collect();
                    ok(|w| w.write_seq(&c3))
                }
            }
        }
        "set_attribute_config_5" => {
            let cfgs: Vec<AttributeConfig_5> = r.read_seq()?;
            let ident = r.read::<ClntIdent>()?;
            c.record(Detail::None, Some(&ident));
            if let Err(e) = lock::check(c, &lock::caller(c, Some(&ident)), "set_attribute_config_5") {
                return Ok(Some(Outcome::User(e)));
            }
            match obj.set_attribute_config(cfgs) {
                Ok(()) => ok(|_| {}),
                Err(e) => Outcome::User(e),
            }
        }
        _ => return Ok(None),
    }))
}
