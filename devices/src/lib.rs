//! `sdp-devices`: the SDP Tango devices on the native `tango` stack.
//!
//! * [`fsm`]: the subarray's obsState machine as one transition table, shared by the command
//!   handlers, the `is_allowed` guards and the diagram in `docs/obsstate-fsm.md`;
//! * [`schema`]: command arguments validated against `schemas/*.json` (embedded);
//! * [`receive`]: receiveAddresses from a CBF output link map (spec §5.4);
//! * [`csp`]: reading the CBF output link map from a CSP attribute;
//! * [`cfgdb`]: the link to the configuration DB (processing blocks, persisted subarray
//!   state, the PB-state watch);
//! * [`autoreg`]: registering the default device in an empty Tango database;
//! * [`subarray`], [`master`]: the devices `SDPSubarray` and `SDPMaster`.

pub mod autoreg;
pub mod cfgdb;
pub mod csp;
pub mod fsm;
pub mod master;
pub mod receive;
pub mod schema;
pub mod subarray;

pub use master::Master;
pub use subarray::{Services, Subarray};
