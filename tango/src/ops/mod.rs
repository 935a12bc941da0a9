//! The `Device_5` operations, one module per family, each doing decode → call → encode:
//!
//! | module | operations |
//! |---|---|
//! | [`info`] | `_is_a`, `_non_existent`, `ping`, `info*`, `_get_*` attributes, `black_box` |
//! | [`command`] | `command_list_query*`, `command_query*`, `command_inout*` |
//! | [`attribute`] | `read_attributes_*`, `write_attributes_4`, `write_read_attributes_*` |
//! | [`config`] | `get_attribute_config_*`, `set_attribute_config_5` |
//! | [`history`] | `read_attribute_history_*`, `command_inout_history_*` |
//! | [`lock`] | the lock gate the command, write and configuration families pass through |
//!
//! Every family answers `None` for an operation that is not its own, so the dispatcher asks
//! them in turn; the arguments are only decoded by the family that owns the operation.

use crate::cdr::{CdrError, CdrReader};
use crate::dispatch::{Dispatcher, Outcome, Peer};
use crate::idl::ClntIdent;
use crate::object::{Detail, DeviceObject};

pub mod attribute;
pub mod command;
pub mod config;
pub mod history;
pub mod info;
pub mod lock;

/// What one family's handler returns: `None` when the operation is not its own.
pub(crate) type Handled = Option<Result<Outcome, CdrError>>;

/// One request on its way through the operation families.
pub(crate) struct Call<'a> {
    pub dispatcher: &'a Dispatcher,
    pub obj: &'a dyn DeviceObject,
    /// The IDL operation name.
    pub op: &'a str,
    pub peer: &'a Peer,
}

impl Call<'_> {
    /// Record the operation in the device's black box.
    pub fn record(&self, detail: Detail, ident: Option<&ClntIdent>) {
        self.dispatcher.record(self.obj, "Operation", static_op(self.op), detail, ident, self.peer);
    }

    /// Record a read of the `state`/`status` IDL attributes.
    pub fn record_attr(&self, attr: &'static str) {
        self.dispatcher.record(self.obj, "Attribute", attr, Detail::None, None, self.peer);
    }
}

/// The operation's name as a static string, from the families' own lists (black box entries
/// are kept without copying the name of every request).
fn static_op(op: &str) -> &'static str {
    [info::OPS, command::OPS, attribute::OPS, config::OPS, history::OPS]
        .into_iter()
        .flatten()
        .copied()
        .find(|o| *o == op)
        .unwrap_or("unknown")
}

/// Read a value that only some operations of a family carry.
pub(crate) fn read_if<T: crate::cdr::Decode>(r: &mut CdrReader<'_>, present: bool) -> Result<Option<T>, CdrError> {
    if present {
        r.read::<T>().map(Some)
    } else {
        Ok(None)
    }
}
