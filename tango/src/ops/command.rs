//! Commands: `command_list_query*`, `command_query*` and `command_inout*`.

use super::{lock, read_if, Call, Handled};
use crate::any::{decode_any, encode_any, CmdValue};
use crate::cdr::{CdrError, CdrReader};
use crate::dispatch::{ok, Outcome};
use crate::idl::{ClntIdent, DevCmdInfo, DevFailed, DevSource};
use crate::locking::with_caller;
use crate::logging::Level;
use crate::object::Detail;
use crate::polling::{PollKind, Polled};

/// The operations of this family the black box records.
#[rustfmt::skip]
pub(crate) const OPS: &[&str] = &["command_list_query", "command_list_query_2", "command_query", "command_query_2", "command_inout", "command_inout_2", "command_inout_4"];

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
            let source = read_if::<DevSource>(r, c.op != "command_inout")?.unwrap_or(DevSource::DEV);
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
            let caller = lock::caller(c, ident.as_ref());
            let result = if lock::always_allowed(&name) {
                Ok(())
            } else {
                lock::check(c, &caller, if c.op == "command_inout_4" { "command_inout4" } else { "command_inout2" })
            }
            .and_then(|()| match cached(c, &name, source) {
                Some(r) => r,
                None => with_caller(caller, || obj.command(&name, arg)),
            });
            match result {
                Ok(v) => ok(|w| encode_any(w, &v)),
                Err(e) => {
                    obj.services()
                        .logger
                        .log_with(Level::Error, || format!("command {name} failed: {}", e.errors.first().map_or("", |e| e.desc.as_str())));
                    Outcome::User(e)
                }
            }
        }
        _ => return Ok(None),
    }))
}

/// A command result from the polling buffer: always for source CACHE (an error when the
/// command is not polled), for CACHE_DEV when polling is configured for it; `None` = run it.
fn cached(c: &Call<'_>, name: &str, source: DevSource) -> Option<Result<CmdValue, DevFailed>> {
    let polling = &c.obj.services().polling;
    if source == DevSource::DEV || (source == DevSource::CACHE_DEV && !polling.any_configured()) {
        return None;
    }
    let rec = match polling.latest(PollKind::Command, name, source == DevSource::CACHE_DEV) {
        None if source == DevSource::CACHE => {
            return Some(Err(DevFailed::new(
                "API_CmdNotPolled",
                format!("Command {name} not polled: a read from CACHE needs a polled command"),
                "Device_2Impl::command_inout",
            )))
        }
        None => return None,
        Some(rec) => rec,
    };
    Some(match rec.map(|r| r.value) {
        Some(Polled::Cmd(r)) => r,
        _ => Err(DevFailed::new("API_NoDataYet", format!("No data available in cache for command {name}"), "Device_2Impl::command_inout")),
    })
}

pub(crate) fn command_not_found(name: &str) -> DevFailed {
    DevFailed::new("API_CommandNotFound", format!("Command {name} not found"), "DeviceClass::command_handler")
}
