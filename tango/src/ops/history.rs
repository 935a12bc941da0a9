//! Histories of polled objects, from the polling ring buffers: `read_attribute_history_5`
//! (`DevAttrHistory_5`) and `command_inout_history_4` (`DevCmdHistory_4`). The older
//! variants (`_2/_3/_4` attribute, `_2` command) answer `API_NotSupported`: PyTango 9+ and
//! cppTango 9+ clients use the newest ones with an IDL 5 device.

use super::{Call, Handled};
use crate::cdr::{CdrError, CdrReader};
use crate::dispatch::{ok, Outcome};
use crate::idl::DevFailed;
use crate::object::Detail;
use crate::polling::{history, PollKind};

/// The operations of this family the black box records.
#[rustfmt::skip]
pub(crate) const OPS: &[&str] = &["read_attribute_history_5", "command_inout_history_4"];

pub(crate) fn handle(c: &Call<'_>, r: &mut CdrReader<'_>) -> Handled {
    run(c, r).transpose()
}

fn run(c: &Call<'_>, r: &mut CdrReader<'_>) -> Result<Option<Outcome>, CdrError> {
    let obj = c.obj;
    Ok(Some(match c.op {
        "read_attribute_history_5" => {
            let name = r.read_string()?;
            let n = r.read_i32()?;
            c.record(Detail::Attrs(vec![name.clone()]), None);
            let attr = match obj.attribute_config(std::slice::from_ref(&name)) {
                Ok(cfg) => cfg[0].name.clone(),
                Err(e) => return Ok(Some(Outcome::User(e))),
            };
            match obj.services().polling.history(PollKind::Attribute, &attr, n, obj.name()) {
                Ok(recs) => ok(|w| history::encode_attr_history_5(w, &attr, &recs)),
                Err(e) => Outcome::User(e),
            }
        }
        "command_inout_history_4" => {
            let name = r.read_string()?;
            let n = r.read_i32()?;
            c.record(Detail::Cmd(name.clone(), false), None);
            let Some(cmd) = obj.command_list().iter().find(|i| i.cmd_name.eq_ignore_ascii_case(&name)) else {
                return Ok(Some(Outcome::User(super::command::command_not_found(&name))));
            };
            let out_type = cmd.out_type;
            // State and Status polled as commands are polled as attributes (cppTango too)
            let (kind, key) = if name.eq_ignore_ascii_case("state") || name.eq_ignore_ascii_case("status") {
                (PollKind::Attribute, if name.eq_ignore_ascii_case("state") { "State" } else { "Status" }.to_string())
            } else {
                (PollKind::Command, cmd.cmd_name.clone())
            };
            match obj.services().polling.history(kind, &key, n, obj.name()) {
                Ok(recs) if kind == PollKind::Command => ok(|w| history::encode_cmd_history_4(w, out_type, &recs)),
                Ok(recs) => ok(|w| history::encode_cmd_history_4(w, out_type, &history::as_command_records(&recs))),
                Err(e) => Outcome::User(e),
            }
        }
        "read_attribute_history_4" | "read_attribute_history_3" | "read_attribute_history_2" | "command_inout_history_2" => {
            let name = r.read_string()?;
            Outcome::User(DevFailed::new(
                "API_NotSupported",
                format!(
                    "{} of {name} is not supported by this server: use read_attribute_history_5 / command_inout_history_4 (IDL 5)",
                    c.op
                ),
                "Device::history",
            ))
        }
        _ => return Ok(None),
    }))
}
