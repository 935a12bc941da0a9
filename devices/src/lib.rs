//! `sdp-devices`: the SDP Tango devices on the native `tango` stack.
//!
//! * [`fsm`]: the subarray's obsState machine as one transition table, shared by the command
//!   handlers, the `is_allowed` guards and the diagram in `docs/obsstate-fsm.md`;
//! * [`schema`]: command arguments validated against `schemas/*.json` (embedded);
//! * [`receive`]: receiveAddresses from a CBF output link map (spec §5.4);
//! * [`csp`]: reading the CBF output link map from a CSP attribute;
//! * [`cfgdb`]: the link to the configuration DB (processing blocks, persisted subarray
//!   state, the PB-state watch);
//! * [`health`]: what `healthState`/`healthInfo` say, a pure function of what is seen of the
//!   configuration DB (table-tested);
//! * [`liveness`]: each device server's own liveness in the configuration DB
//!   (`/component/<Exec>-<instance>/alive`) with a probe that catches a hung server, and the
//!   executables' process runner;
//! * [`restore`]: the restore-from-DB lifecycle every device with a stored state follows;
//! * [`autoreg`]: registering the default device in an empty Tango database;
//! * [`subarray`], [`master`]: the devices `SDPSubarray` and `SDPMaster`;
//! * [`adr8`]: the ADR-8 interface profile (what a current TMC drives): `SDPSubarray` on the
//!   table [`fsm::adr8`] with execution blocks, and the controller `SDPController`.

pub mod adr8;
pub mod autoreg;
pub mod cfgdb;
pub mod csp;
pub mod fsm;
pub mod health;
pub mod liveness;
pub mod master;
pub mod receive;
pub mod restore;
pub mod schema;
pub mod subarray;

pub use master::Master;
pub use subarray::{Services, Subarray};
