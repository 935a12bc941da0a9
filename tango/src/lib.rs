//! A native Tango Controls device-server stack: CDR, GIOP, IORs, the Tango IDL types, a tokio
//! server runtime with the admin device, and a declarative device API.
//!
//! The protocol modules (`cdr`, `giop`, `ior`, `idl`, `any`) are sans-IO: pure functions over
//! bytes, tested against captured traffic. Sockets live in `server` only. Device authors use
//! `device` and never see CDR.

pub mod any;
pub mod cdr;
pub mod giop;
pub mod idl;
pub mod ior;

pub mod admin;
pub(crate) mod attr_config;
pub mod blackbox;
pub mod client;
pub mod connection;
pub mod database;
pub mod dbclient;
pub mod device;
pub mod dispatch;
pub mod events;
pub mod handle;
pub mod locking;
pub mod logging;
pub mod logging_sink;
pub mod object;
pub mod ops;
pub mod polling;
pub mod registration;
pub mod server;
pub mod services;
pub mod test_device;

pub use device::{Attr, Cmd, Device, DeviceClass, TangoEnum};
pub use idl::{DevFailed, DevState};
pub use registration::DeviceContext;
pub use server::{Server, ServerOptions};
