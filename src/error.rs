//! The error type of the `sdp` binaries: any error, boxed. The controller, deployers and
//! workflows gather errors from etcd, Helm, processes, JSON and their own checks, and all any
//! caller does with one is log it and exit or retry; a boxed `std::error::Error` carries the
//! message without an enum nobody matches on, and a `String` converts with `.into()`.

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;
