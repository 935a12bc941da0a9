//! Checking and parsing the arguments of the `Db*` commands: the name syntaxes (device,
//! server, class), Tango wildcards, and the flat `[object, n, (name, n_values, values...)*]`
//! property lists, so every command refuses bad input the same way before touching data.

use super::store::{err, R};

/// `domain/family/member`, each part non-empty, no spaces, no wildcard.
pub fn check_device_name(name: &str, origin: &str) -> R<()> {
    let parts: Vec<&str> = name.split('/').collect();
    let bad = parts.len() != 3 || parts.iter().any(|p| p.is_empty() || p.contains(|c: char| c.is_whitespace() || c == '*'));
    if bad {
        return Err(err(
            "DB_IncorrectDeviceName",
            format!("device name ({name}) syntax error (should be domain/family/member, three non-empty parts without spaces or '*')"),
            origin,
        ));
    }
    Ok(())
}

/// `executable/instance`.
pub fn check_server_name(name: &str, origin: &str) -> R<()> {
    let parts: Vec<&str> = name.split('/').collect();
    if parts.len() != 2 || parts.iter().any(|p| p.is_empty() || p.contains(|c: char| c.is_whitespace() || c == '*')) {
        return Err(err(
            "DB_IncorrectServerName",
            format!("server name ({name}) syntax error (should be executable/instance, two non-empty parts without spaces or '*')"),
            origin,
        ));
    }
    Ok(())
}

pub(crate) fn check_class_name(name: &str, origin: &str) -> R<()> {
    if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '/' || c == '*') {
        return Err(err("DB_IncorrectArguments", format!("class name ({name:?}) must be non-empty, without spaces, '/' or '*'"), origin));
    }
    Ok(())
}

pub(crate) fn need_args(argin: &[String], n: usize, what: &str, origin: &str) -> R<()> {
    if argin.len() < n {
        return Err(err(
            "DB_IncorrectArguments",
            format!("incorrect number of input arguments: got {}, need at least {n} ({what})", argin.len()),
            origin,
        ));
    }
    Ok(())
}

/// Tango wildcard match: `*` = any sequence, case-insensitive.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let t: Vec<char> = text.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0usize, 0usize, None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Parse `[n, (name, n_values, values...)*]` starting at `argin[at]`.
pub(crate) fn parse_put_list(argin: &[String], at: usize, origin: &str) -> R<Vec<(String, Vec<String>)>> {
    let bad = |why: String| {
        err("DB_IncorrectArguments", format!("malformed property list: {why}; expected [object, n, (name, n_values, value...)*]"), origin)
    };
    let n: usize = argin.get(at).and_then(|s| s.trim().parse().ok()).ok_or_else(|| bad(format!("no property count at index {at}")))?;
    let mut i = at + 1;
    let mut out = Vec::with_capacity(n);
    for k in 0..n {
        let name = argin.get(i).ok_or_else(|| bad(format!("property {} of {n} is missing", k + 1)))?.clone();
        if name.trim().is_empty() {
            return Err(bad(format!("property {} has an empty name", k + 1)));
        }
        let nv: usize =
            argin.get(i + 1).and_then(|s| s.trim().parse().ok()).ok_or_else(|| bad(format!("no value count for property {name}")))?;
        let vals = argin.get(i + 2..i + 2 + nv).ok_or_else(|| bad(format!("property {name} announces {nv} values, fewer are present")))?;
        out.push((name, vals.to_vec()));
        i += 2 + nv;
    }
    if i != argin.len() {
        return Err(bad(format!("{} unexpected trailing element(s)", argin.len() - i)));
    }
    Ok(out)
}

/// Properties to write: (name, values).
pub(crate) type PropList = Vec<(String, Vec<String>)>;

/// How a list gives the values of one property.
#[derive(Clone, Copy)]
pub(crate) enum Layout {
    /// `prop, n_values, values...` per property (the `...2` commands, pipes).
    Counted,
    /// `prop, value` per value, the property's count being its number of values (v1).
    Pairs,
}

/// Parse `[n_attr, (attr, n_props, props...)*]` starting at `argin[at]`, the properties of each
/// attribute (or pipe) in `layout`.
pub(crate) fn parse_attr_put_list(argin: &[String], at: usize, origin: &str, layout: Layout) -> R<Vec<(String, PropList)>> {
    let expected = match layout {
        Layout::Counted => "[object, n_attr, (attr, n_props, (prop, n_values, value...)*)*]",
        Layout::Pairs => "[object, n_attr, (attr, n_props, (prop, value)*)*]",
    };
    let bad = |why: String| err("DB_IncorrectArguments", format!("malformed attribute property list: {why}; expected {expected}"), origin);
    let num = |i: usize, what: &str| -> R<usize> {
        argin.get(i).and_then(|s| s.trim().parse().ok()).ok_or_else(|| bad(format!("no {what} at index {i}")))
    };
    let n_attr = num(at, "attribute count")?;
    let mut i = at + 1;
    let mut out = Vec::new();
    for _ in 0..n_attr {
        let attr = argin.get(i).ok_or_else(|| bad("an attribute name is missing".into()))?.clone();
        let n_props = num(i + 1, "property count")?;
        i += 2;
        let mut props: PropList = Vec::new();
        for _ in 0..n_props {
            let name = argin.get(i).ok_or_else(|| bad(format!("a property name of attribute {attr} is missing")))?.clone();
            let (nv, first) = match layout {
                Layout::Counted => (num(i + 1, "value count")?, i + 2),
                Layout::Pairs => (1, i + 1),
            };
            let vals = argin
                .get(first..first + nv)
                .ok_or_else(|| bad(format!("property {attr}.{name} announces {nv} values, fewer are present")))?;
            match (layout, props.last_mut()) {
                (Layout::Pairs, Some((last, v))) if last.eq_ignore_ascii_case(&name) => v.extend_from_slice(vals),
                _ => props.push((name, vals.to_vec())),
            }
            i = first + nv;
        }
        out.push((attr, props));
    }
    if i != argin.len() {
        return Err(bad(format!("{} unexpected trailing element(s)", argin.len() - i)));
    }
    Ok(out)
}
