//! The lock gate of the operation layer: who is calling (from the `ClntIdent` of IDL 4+
//! calls and the connection), and whether a locked device lets them do what they ask.
//! Reads, State and Status stay open to everybody; commands, writes and
//! `set_attribute_config` are the holder's only (see [`locking`](crate::locking)).

use std::time::Instant;

use super::Call;
use crate::idl::{ClntIdent, DevFailed};
use crate::locking::{Caller, Locker};

/// The caller of this request as locking knows it.
pub(crate) fn caller(c: &Call<'_>, ident: Option<&ClntIdent>) -> Caller {
    Caller { locker: ident.map(|i| Locker::from_ident(i, c.peer.host.clone(), c.peer.address.clone())) }
}

/// Refuse `method` when another client holds the device's lock.
pub(crate) fn check(c: &Call<'_>, caller: &Caller, method: &str) -> Result<(), DevFailed> {
    c.obj.services().lock.check(c.obj.name(), caller.locker.as_ref(), method, Instant::now())
}

/// Commands a locked device still runs for anybody.
pub(crate) fn always_allowed(cmd: &str) -> bool {
    cmd.eq_ignore_ascii_case("state") || cmd.eq_ignore_ascii_case("status")
}
