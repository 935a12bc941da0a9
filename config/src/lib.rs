//! `sdp-config`: the SKA SDP configuration database.
//!
//! Byte-compatible with ska-sdp-config 0.0.5: depth-tagged etcd keys (`/pb/x` is
//! stored as `2/pb/x`), values as canonical pretty JSON, the same path rules,
//! entity validation and error messages. One [`Backend`] trait with two
//! implementations — [`EtcdBackend`] (etcd v3 over gRPC) and [`MemoryBackend`] (an
//! in-process MVCC store with the same semantics) — below a shared layer:
//! [`Db`] (raw path operations, watches, leases), [`Txn`] (transactions with snapshot
//! isolation, retry and watch-driven loops, plus the entity API) and [`Config`]
//! (environment, global prefix, owner, client lease), and [`Liveness`] (each long-running
//! component's alive key on a lease, see [`alive`]). The key layout is [`keys`]; execution
//! blocks (the ADR-8 interface's) are [`eb`].

pub mod alive;
pub mod backend;
pub mod config;
pub mod db;
pub mod eb;
pub mod entity;
pub mod error;
#[cfg(feature = "etcd")]
pub mod etcd;
pub mod etcd_options;
pub mod json;
pub mod keys;
pub mod memory;
pub mod ownership;
pub mod path;
#[cfg(feature = "etcd")]
pub mod server;
pub mod txn;

pub use alive::{ComponentInfo, ComponentStatus, Liveness, LivenessOptions, WorkGuard};
pub use backend::Backend;
pub use config::{BackendChoice, Config};
pub use db::{Db, DeleteOptions, KeyWatch, Lease, Revision, WatchUpdate};
pub use eb::{EbState, EbStatus, ScanRecord};
pub use entity::{Dependency, Deployment, PbLayout, ProcessingBlock, Workflow};
pub use error::{Error, Result};
#[cfg(feature = "etcd")]
pub use etcd::EtcdBackend;
pub use etcd_options::EtcdOptions;
pub use memory::MemoryBackend;
pub use path::Recurse;
#[cfg(feature = "etcd")]
pub use server::{ClusterMember, EtcdCluster, EtcdServer, EtcdServerOptions, ServerTls};
pub use txn::Txn;
