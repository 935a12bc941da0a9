//! Histories of polled objects: `read_attribute_history_2..5`, `command_inout_history_2/4`.

use super::{Call, Handled};
use crate::cdr::{CdrError, CdrReader};
use crate::dispatch::Outcome;
use crate::idl::DevFailed;
use crate::object::attr_not_found;

pub(crate) fn handle(c: &Call<'_>, r: &mut CdrReader<'_>) -> Handled {
    run(c, r).transpose()
}

fn run(c: &Call<'_>, r: &mut CdrReader<'_>) -> Result<Option<Outcome>, CdrError> {
    let obj = c.obj;
    Ok(Some(match c.op {
        "read_attribute_history_5" | "read_attribute_history_4" | "read_attribute_history_3" | "read_attribute_history_2" => {
            let name = r.read_string()?;
            Outcome::User(if obj.attribute_config(std::slice::from_ref(&name)).is_err() {
                attr_not_found(&name)
            } else {
                DevFailed::new(
                    "API_AttrNotPolled",
                    format!("Attribute {name} is not polled: this server keeps no attribute history"),
                    "Device::read_attribute_history",
                )
            })
        }
        "command_inout_history_4" | "command_inout_history_2" => {
            let name = r.read_string()?;
            Outcome::User(DevFailed::new(
                "API_CmdNotPolled",
                format!("Command {name} is not polled: this server keeps no command history"),
                "Device::command_inout_history",
            ))
        }
        _ => return Ok(None),
    }))
}
