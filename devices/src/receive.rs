//! receiveAddresses: which (fictitious) receive host takes which channels of which FSP, from a
//! CBF output link map and the processing block's parameters (the subarray 0.5.19 algorithm,
//! spec §5.4).

use serde_json::{json, Value};

/// A refused link map or parameter set; the device turns it into a DevFailed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkMapError(pub String);

impl std::fmt::Display for LinkMapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The link map used when the CBF output link is not read from CSP: one FSP, no links.
pub fn mock_link_map(scan_id: i64) -> Value {
    json!({"scanID": scan_id, "fsp": [{"cbfOutLink": [], "fspID": 1, "frequencySliceID": 1}]})
}

#[derive(Debug, Clone)]
struct Channel {
    id: i64,
    fsp: i64,
}

fn int(v: &Value, what: &str) -> Result<i64, LinkMapError> {
    v.as_i64().ok_or_else(|| LinkMapError(format!("cbfOutputLinks validation error: {what} must be an integer, got {v}")))
}

fn array<'a>(v: &'a Value, what: &str) -> Result<&'a Vec<Value>, LinkMapError> {
    v.as_array().ok_or_else(|| LinkMapError(format!("cbfOutputLinks validation error: {what} must be an array")))
}

/// Parameters of the processing block that shape the result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReceiveParams {
    pub num_channels: i64,
    pub max_channels_per_host: i64,
    pub channel_averaging_factor: i64,
    pub port_offset: i64,
}

impl ReceiveParams {
    /// From the PB `parameters` (defaults: numChannels 0, maxChannelsPerHost 400,
    /// channelAveragingFactor 1, portOffset 9000).
    pub fn from_parameters(p: &Value) -> Result<ReceiveParams, LinkMapError> {
        let get = |k: &str, default: i64| -> Result<i64, LinkMapError> {
            match p.get(k) {
                None | Some(Value::Null) => Ok(default),
                Some(v) => v
                    .as_i64()
                    .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                    .ok_or_else(|| LinkMapError(format!("Configure JSON validation error: parameters.{k} must be an integer, got {v}"))),
            }
        };
        let r = ReceiveParams {
            num_channels: get("numChannels", 0)?,
            max_channels_per_host: get("maxChannelsPerHost", 400)?,
            channel_averaging_factor: get("channelAveragingFactor", 1)?,
            port_offset: get("portOffset", 9000)?,
        };
        if r.max_channels_per_host <= 0 || r.num_channels < 0 {
            return Err(LinkMapError(
                "Configure JSON validation error: parameters.maxChannelsPerHost must be positive and numChannels not negative".into(),
            ));
        }
        Ok(r)
    }
}

/// Compute receiveAddresses for `link_map` (already known to belong to a configured scan).
pub fn receive_addresses(link_map: &Value, params: &ReceiveParams) -> Result<Value, LinkMapError> {
    let scan_id = int(link_map.get("scanID").unwrap_or(&Value::Null), "scanID")?;
    let fsps = array(link_map.get("fsp").unwrap_or(&Value::Null), "fsp")?;
    let mut channels = Vec::new();
    let mut all_fsps = Vec::new();
    for fsp in fsps {
        let fsp_id = int(fsp.get("fspID").unwrap_or(&Value::Null), "fspID")?;
        all_fsps.push(fsp_id);
        for link in array(fsp.get("cbfOutLink").unwrap_or(&json!([])), "cbfOutLink")? {
            for ch in array(link.get("channel").unwrap_or(&json!([])), "channel")? {
                channels.push(Channel { id: int(ch.get("chanID").unwrap_or(&Value::Null), "chanID")?, fsp: fsp_id });
            }
        }
    }
    // by FSP, then by channel id
    channels.sort_by_key(|c| (c.fsp, c.id));
    if channels.len() as i64 > params.num_channels {
        return Err(LinkMapError(format!(
            "Vis Receive configured for fewer channels than defined in the CSP channel link map! (link map: {}, workflow: {})",
            channels.len(),
            params.num_channels
        )));
    }
    if (channels.len() as i64) < params.num_channels {
        tracing::warn!(
            "workflow configured with more channels than the CBF output has (CBF output: {}, workflow: {})",
            channels.len(),
            params.num_channels
        );
    }

    // FSPs that own channels, in order of first appearance
    let mut fsp_ids: Vec<i64> = Vec::new();
    for c in &channels {
        if !fsp_ids.contains(&c.fsp) {
            fsp_ids.push(c.fsp);
        }
    }
    if fsp_ids.is_empty() {
        let listed: Vec<Value> = all_fsps.iter().map(|f| json!({"fspId": f, "hosts": []})).collect();
        return Ok(json!({"scanId": scan_id, "totalChannels": 0, "receiveAddresses": listed}));
    }

    // fictitious hosts, each taking the next slice of the sorted channels
    // (no `n + max - 1`: parameters come from users and may be near i64::MAX)
    let max = params.max_channels_per_host;
    let num_hosts = params.num_channels / max + i64::from(params.num_channels % max != 0);
    // per FSP: list of (host, blocks [(start, count)])
    type Blocks = Vec<(i64, i64)>;
    let mut per_fsp: Vec<(i64, Vec<(String, Blocks)>)> = fsp_ids.iter().map(|f| (*f, Vec::new())).collect();
    let mut start = 0usize;
    for h in 0..num_hosts {
        if start >= channels.len() {
            // every channel placed; the remaining hosts would get none (and numChannels may
            // be huge: it bounds hosts, not work)
            break;
        }
        let ip = format!("192.168.{}.{}", h / 256, h % 256);
        let take = (params.num_channels - max.saturating_mul(h)).min(max).max(0) as usize;
        let end = (start + take).min(channels.len());
        for c in &channels[start..end] {
            let entry = per_fsp.iter_mut().find(|(f, _)| *f == c.fsp).expect("fsp listed");
            let host = match entry.1.iter().position(|(hip, _)| *hip == ip) {
                Some(i) => &mut entry.1[i],
                None => {
                    entry.1.push((ip.clone(), Vec::new()));
                    entry.1.last_mut().expect("just pushed")
                }
            };
            let factor = params.channel_averaging_factor;
            match host.1.iter_mut().find(|(s, n)| n.checked_mul(factor).and_then(|x| x.checked_add(*s)) == Some(c.id)) {
                Some(block) => block.1 += 1,
                None => host.1.push((c.id, 1)),
            }
        }
        start = end;
    }
    let port = |s: i64| {
        params.port_offset.checked_add(s).ok_or_else(|| {
            LinkMapError(format!(
                "Configure JSON validation error: parameters.portOffset {} + channel {s} is out of range",
                params.port_offset
            ))
        })
    };
    let mut out: Vec<Value> = Vec::new();
    for (fsp, hosts) in per_fsp {
        let mut host_values = Vec::new();
        for (ip, blocks) in hosts {
            let mut chans = Vec::new();
            for (s, n) in blocks {
                chans.push(json!({"portOffset": port(s)?, "startChannel": s, "numChannels": n}));
            }
            host_values.push(json!({"host": ip, "channels": chans}));
        }
        out.push(json!({"phaseBinId": 0, "fspId": fsp, "hosts": host_values}));
    }
    Ok(json!({"scanId": scan_id, "totalChannels": channels.len(), "receiveAddresses": out}))
}

/// Check a link map read from CSP against the configured scans.
pub fn check_link_map(link_map: &Value, configured_scans: &[i64]) -> Result<(), LinkMapError> {
    if link_map.as_object().is_none_or(|m| m.is_empty()) {
        return Err(LinkMapError("CBF Output Link map is empty!".into()));
    }
    let scan = int(link_map.get("scanID").unwrap_or(&Value::Null), "scanID")?;
    if !configured_scans.contains(&scan) {
        return Err(LinkMapError(format!("Unknown scan ID {scan} in channel link map. Allowed values {configured_scans:?}")));
    }
    Ok(())
}

/// What Configure does with a link map (the mock one or CSP's): check it against the
/// configured scans, compute the receive addresses and return the attribute's JSON text.
pub fn addresses_for_scans(link_map: &Value, configured_scans: &[i64], params: &ReceiveParams) -> Result<String, LinkMapError> {
    check_link_map(link_map, configured_scans)?;
    Ok(py_dumps(&receive_addresses(link_map, params)?))
}

/// Key order of the receiveAddresses JSON the 2019 device published (Python dicts keep
/// insertion order); other keys follow, alphabetically.
const KEY_ORDER: &[&str] = &[
    "scanId",
    "totalChannels",
    "receiveAddresses",
    "phaseBinId",
    "fspId",
    "hosts",
    "host",
    "channels",
    "portOffset",
    "startChannel",
    "numChannels",
];

/// JSON text the way Python's `json.dumps` writes it (`", "` and `": "` separators), with the
/// keys of receiveAddresses in the 2019 order. Independent of serde_json's `preserve_order`.
pub fn py_dumps(v: &Value) -> String {
    let mut out = String::new();
    write(&mut out, v);
    out
}

fn write(out: &mut String, v: &Value) {
    match v {
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(out, x);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            let rank = |k: &str| KEY_ORDER.iter().position(|o| *o == k).unwrap_or(KEY_ORDER.len());
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_by(|a, b| (rank(a.0), a.0).cmp(&(rank(b.0), b.0)));
            for (i, (k, x)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                write(out, x);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// LINK-SIMPLE of the acceptance scenarios: FSP 1 with channels 665; 681; 273, 313;
    /// 153, 529, 689 on four links, FSP 2 without links.
    fn link_simple() -> Value {
        let ch = |ids: &[i64]| -> Value { ids.iter().map(|i| json!({"bw": 53763, "cf": 350000000 + i * 1000, "chanID": i})).collect() };
        json!({"scanID": 4, "fsp": [
            {"fspID": 1, "frequencySliceID": 1, "cbfOutLink": [
                {"linkID": 1, "channel": ch(&[665])},
                {"linkID": 2, "channel": ch(&[681])},
                {"linkID": 3, "channel": ch(&[273, 313])},
                {"linkID": 4, "channel": ch(&[153, 529, 689])}]},
            {"fspID": 2, "frequencySliceID": 20, "cbfOutLink": []}]})
    }

    fn cfg_test_params() -> ReceiveParams {
        ReceiveParams::from_parameters(&json!({"numStations": 4, "numPolarisations": 4, "numChannels": 93, "maxChannelsPerHost": 400,
            "channelAveragingFactor": 8, "portOffset": 9000, "freqEndHz": 1050000000.0, "freqStartHz": 350000000.0}))
        .unwrap()
    }

    #[test]
    fn a6_link_simple() {
        let got = receive_addresses(&link_simple(), &cfg_test_params()).unwrap();
        let want = json!({"scanId": 4, "totalChannels": 7, "receiveAddresses": [{"phaseBinId": 0, "fspId": 1, "hosts": [{"host": "192.168.0.0", "channels": [
            {"portOffset": 9153, "startChannel": 153, "numChannels": 1}, {"portOffset": 9273, "startChannel": 273, "numChannels": 1},
            {"portOffset": 9313, "startChannel": 313, "numChannels": 1}, {"portOffset": 9529, "startChannel": 529, "numChannels": 1},
            {"portOffset": 9665, "startChannel": 665, "numChannels": 1}, {"portOffset": 9681, "startChannel": 681, "numChannels": 2}]}]}]});
        assert_eq!(got, want);
    }

    #[test]
    fn mock_map_gives_the_seed_value() {
        let got = receive_addresses(&mock_link_map(1), &ReceiveParams::from_parameters(&json!({})).unwrap()).unwrap();
        assert_eq!(py_dumps(&got), r#"{"scanId": 1, "totalChannels": 0, "receiveAddresses": [{"fspId": 1, "hosts": []}]}"#);
        let got = receive_addresses(&mock_link_map(4), &cfg_test_params()).unwrap();
        assert_eq!(got, json!({"scanId": 4, "totalChannels": 0, "receiveAddresses": [{"fspId": 1, "hosts": []}]}));
    }

    #[test]
    fn too_many_channels_and_several_hosts() {
        let mut p = cfg_test_params();
        p.num_channels = 5;
        let e = receive_addresses(&link_simple(), &p).unwrap_err();
        assert_eq!(e.0, "Vis Receive configured for fewer channels than defined in the CSP channel link map! (link map: 7, workflow: 5)");
        p.num_channels = 8;
        p.max_channels_per_host = 3;
        let got = receive_addresses(&link_simple(), &p).unwrap();
        let hosts = got["receiveAddresses"][0]["hosts"].as_array().unwrap();
        let ips: Vec<&str> = hosts.iter().map(|h| h["host"].as_str().unwrap()).collect();
        assert_eq!(ips, ["192.168.0.0", "192.168.0.1", "192.168.0.2"]);
    }

    /// Seen while writing the configure_json fuzz target: parameters near i64::MAX overflowed (debug
    /// builds panicked) and a huge numChannels looped over every fictitious host.
    #[test]
    fn extreme_parameters_neither_overflow_nor_loop() {
        let mut p = cfg_test_params();
        p.num_channels = i64::MAX;
        p.max_channels_per_host = 1;
        let got = receive_addresses(&link_simple(), &p).unwrap();
        assert_eq!(got["receiveAddresses"][0]["hosts"].as_array().unwrap().len(), 7);
        p.max_channels_per_host = i64::MAX;
        p.channel_averaging_factor = i64::MAX;
        assert_eq!(receive_addresses(&link_simple(), &p).unwrap()["totalChannels"], 7);
        p.port_offset = i64::MAX;
        let e = receive_addresses(&link_simple(), &p).unwrap_err();
        assert!(e.0.contains("portOffset") && e.0.contains("out of range"), "{}", e.0);
    }

    #[test]
    fn link_map_checks() {
        assert_eq!(check_link_map(&json!({}), &[4]).unwrap_err().0, "CBF Output Link map is empty!");
        assert_eq!(check_link_map(&link_simple(), &[1, 2]).unwrap_err().0, "Unknown scan ID 4 in channel link map. Allowed values [1, 2]");
        assert!(check_link_map(&link_simple(), &[4]).is_ok());
    }
}
