//! Logical paths and their depth-tagged etcd keys.
//!
//! ska-sdp-config stores the logical path `/a/b/c` under the etcd key `3/a/b/c`: the
//! number of `/` in the path, then the path. A prefix scan over `2/pb/` therefore
//! returns exactly the children of `/pb`, never grandchildren.

use crate::error::{Error, Result};

/// Check that `path` is usable at all: it must start with `/`.
pub fn check_path(path: &str) -> Result<()> {
    if !path.starts_with('/') {
        return Err(Error::Value("Path must start with /!".into()));
    }
    Ok(())
}

/// Check a path that names one key: starts with `/`, does not end with `/`.
pub fn check_key_path(path: &str) -> Result<()> {
    check_path(path)?;
    if path.ends_with('/') {
        return Err(Error::Value("Path should not have a trailing '/'!".into()));
    }
    Ok(())
}

/// Depth of a path: the number of `/` in it.
pub fn depth(path: &str) -> usize {
    path.bytes().filter(|b| *b == b'/').count()
}

/// The etcd key of a logical path at its own depth (`/pb/x` → `2/pb/x`).
pub fn tag(path: &str) -> String {
    tag_at(path, depth(path))
}

/// The etcd key prefix for `path` at an explicit depth (used for listing deeper levels).
pub fn tag_at(path: &str, depth: usize) -> String {
    format!("{depth}{path}")
}

/// The logical path of an etcd key (`2/pb/x` → `/pb/x`); `None` if the key is not
/// depth-tagged (written by someone else).
pub fn untag(key: &str) -> Option<&str> {
    let start = key.find('/')?;
    let (digits, rest) = key.split_at(start);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(rest)
}

/// Which depths below a listed path to include (Python `recurse=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recurse {
    /// `recurse=N`: the path's own depth and `N` levels below it.
    Depth(usize),
    /// `recurse=(a, b, ...)`: exactly these relative depths.
    Levels(Vec<usize>),
}

impl Recurse {
    /// The relative depths to scan, ascending and without duplicates.
    pub fn levels(&self) -> Vec<usize> {
        let mut v = match self {
            Recurse::Depth(n) => (0..=*n).collect(),
            Recurse::Levels(l) => l.clone(),
        };
        v.sort_unstable();
        v.dedup();
        v
    }
}

impl From<usize> for Recurse {
    fn from(n: usize) -> Self {
        Recurse::Depth(n)
    }
}

impl From<&[usize]> for Recurse {
    fn from(l: &[usize]) -> Self {
        Recurse::Levels(l.to_vec())
    }
}

impl<const N: usize> From<[usize; N]> for Recurse {
    fn from(l: [usize; N]) -> Self {
        Recurse::Levels(l.to_vec())
    }
}

/// The etcd key prefixes that `list_keys(path, recurse)` scans.
pub fn list_prefixes(path: &str, recurse: &Recurse) -> Vec<String> {
    let d = depth(path);
    recurse.levels().into_iter().map(|l| tag_at(path, d + l)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_count_slashes() {
        assert_eq!(tag("/pb/x"), "2/pb/x");
        assert_eq!(tag("/pb/x/owner"), "3/pb/x/owner");
        assert_eq!(tag("/"), "1/");
        assert_eq!(tag("/pb/"), "2/pb/");
        assert_eq!(untag("2/pb/x"), Some("/pb/x"));
        assert_eq!(untag("12/a/b/c/d/e/f/g/h/i/j/k/l"), Some("/a/b/c/d/e/f/g/h/i/j/k/l"));
        assert_eq!(untag("/pb/x"), None);
        assert_eq!(untag("x/pb"), None);
    }

    #[test]
    fn path_rules_and_messages() {
        assert_eq!(check_path("").unwrap_err().to_string(), "Path must start with /!");
        assert_eq!(check_path("foo").unwrap_err().to_string(), "Path must start with /!");
        assert_eq!(check_key_path("/foo/").unwrap_err().to_string(), "Path should not have a trailing '/'!");
        assert!(check_path("/foo/").is_ok());
        assert!(check_key_path("/foo").is_ok());
    }

    #[test]
    fn list_prefixes_follow_recurse() {
        assert_eq!(list_prefixes("/K", &0.into()), vec!["1/K"]);
        assert_eq!(list_prefixes("/K", &2.into()), vec!["1/K", "2/K", "3/K"]);
        assert_eq!(list_prefixes("/K", &[2].into()), vec!["3/K"]);
        assert_eq!(list_prefixes("/K/", &[3, 2, 1].into()), vec!["3/K/", "4/K/", "5/K/"]);
    }
}
