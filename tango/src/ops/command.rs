//! Commands: `command_list_query*`, `command_query*` and `command_inout*`.

use super::{read_if, Call, Handled};
use crate::any::{decode_any, encode_any};
use crate::cdr::{CdrError, CdrReader};
use crate::dispatch::{ok, Outcome};
use crate::idl::{ClntIdent, DevCmdInfo, DevFailed, DevSource};
use crate::object::Detail;

pub(crate) fn handle(c: &Call<'_>, r: &mut CdrReader<'_>) -> Handled {
    run(c, r).transpose()
}

fn run(c: &Call<'_>, r: &mut CdrReader<'_>) -> Result<Option<Outcome>, CdrError> {
    let obj = c.obj;
    Ok(Some(match c.op {
        "command_list_query_2" => {
            c.record(Detail::None, None);
            let l = obj.command_list();
            ok(|w| w.write_seq(l))
        }
        "command_list_query" => {
            c.record(Detail::None, None);
            let l: Vec<DevCmdInfo> = obj.command_list().iter().map(DevCmdInfo::from).collect();
            ok(|w| w.write_seq(&l))
        }
        "command_query_2" | "command_query" => {
            let name = r.read_string()?;
            c.record(Detail::Cmd(name.clone(), false), None);
            match obj.command_list().iter().find(|i| i.cmd_name.eq_ignore_ascii_case(&name)) {
                None => Outcome::User(command_not_found(&name)),
                Some(i) if c.op == "command_query_2" => ok(|w| w.write(i)),
                Some(i) => ok(|w| w.write(&DevCmdInfo::from(i))),
            }
        }
        "command_inout" | "command_inout_2" | "command_inout_4" => {
            let name = r.read_string()?;
            let arg = decode_any(r);
            let _source = read_if::<DevSource>(r, c.op != "command_inout")?;
            let ident = read_if::<ClntIdent>(r, c.op == "command_inout_4")?;
            c.record(Detail::Cmd(name.clone(), c.op != "command_inout"), ident.as_ref());
            let arg = match arg {
                Ok(a) => a,
                Err(e) => {
                    return Ok(Some(Outcome::User(DevFailed::new(
                        "API_IncompatibleCmdArgumentType",
                        format!("Cannot decode the argument of command {name}: {e}"),
                        "Device::command_inout",
                    ))))
                }
            };
            match obj.command(&name, arg) {
                Ok(v) => ok(|w| encode_any(w, &v)),
                Err(e) => Outcome::User(e),
            }
        }
        _ => return Ok(None),
    }))
}

pub(crate) fn command_not_found(name: &str) -> DevFailed {
    DevFailed::new("API_CommandNotFound", format!("Command {name} not found"), "DeviceClass::command_handler")
}
