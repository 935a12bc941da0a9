//! `DbGetDataForServerCache`: everything a device server reads at start-up in one reply.

use std::collections::BTreeMap;

use super::args::*;
use super::store::*;

/// The procedure release of the `ds_start` layout that includes pipe properties.
pub(crate) const CACHE_LAYOUT_RELEASE: &str = "release 1.13";

/// `object, n, (name, n_values, values...)*` (the server-cache layout).
pub(crate) fn flat_props(out: &mut Vec<String>, object: &str, map: Option<&PropMap>) {
    out.push(object.to_string());
    out.push(map.map_or(0, |m| m.len()).to_string());
    for p in map.into_iter().flat_map(|m| m.values()) {
        out.push(p.name.clone());
        out.push(p.values.len().to_string());
        out.extend(p.values.iter().cloned());
    }
}

/// `object, n_attr, (attr, n_props, (prop, n_values, values...)*)*`.
pub(crate) fn flat_attr_props(out: &mut Vec<String>, object: &str, map: Option<&BTreeMap<String, AttrProps>>) {
    out.push(object.to_string());
    out.push(map.map_or(0, |m| m.len()).to_string());
    for a in map.into_iter().flat_map(|m| m.values()) {
        out.push(a.name.clone());
        out.push(a.props.len().to_string());
        for p in a.props.values() {
            out.push(p.name.clone());
            out.push(p.values.len().to_string());
            out.extend(p.values.iter().cloned());
        }
    }
}

impl Store {
    // ---- server start-up cache ------------------------------------------------------------

    /// `DbGetDataForServerCache [server, host]`: everything a device server reads at start-up,
    /// in one flat list, laid out as the C++ DataBaseds' `ds_start` procedure does (checked
    /// against it in the database suite):
    ///
    /// `[("release 1.13" if host ends with %%<tango release >= 9>)`, admin import
    /// (`name, ior, version, server, host, exported, pid, class` or `name, "Not Found"` and
    /// nothing else), `notifd/factory/<host>, "Not Found"`, `dserver/<server>, "Not Found"`
    /// (no notifd events), class properties of `DServer` and `Default`, admin device
    /// properties, `server, n_classes`, per class: class properties, class attribute
    /// properties, (class pipe properties), `class, n_devices, devices...`, per device: device
    /// properties, device attribute properties, (device pipe properties); then `CtrlSystem`
    /// free properties and, if an access-control service is configured, its import `]`.
    pub fn data_for_server_cache(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 2, "server name (executable/instance), host name", "GetDataForServerCache()")?;
        let (ds, recv_host) = (&argin[0], &argin[1]);
        let (host, pipes) = match recv_host.find("%%") {
            Some(p) => {
                let rel: String = recv_host[p + 2..].chars().take_while(|c| c.is_ascii_digit()).collect();
                (&recv_host[..p], rel.parse::<u32>().map(|r| r >= 9).unwrap_or(false))
            }
            None => (recv_host.as_str(), false),
        };
        let s = &self.state;
        let mut out = Vec::new();
        if pipes {
            out.push(CACHE_LAYOUT_RELEASE.to_string());
        }
        let admin = format!("dserver/{ds}");
        if !self.import_for_cache(&admin, &mut out) {
            return Ok(out);
        }
        out.extend([format!("notifd/factory/{host}"), "Not Found".into(), admin.clone(), "Not Found".into()]);
        flat_props(&mut out, "DServer", s.class_props.get("dserver"));
        flat_props(&mut out, "Default", s.class_props.get("default"));
        flat_props(&mut out, &admin, s.device_props.get(&lc(&admin)));
        let mut classes = distinct_sorted(
            s.devices
                .values()
                .filter(|d| d.server.eq_ignore_ascii_case(ds) && !d.class.eq_ignore_ascii_case("dserver"))
                .map(|d| d.class.clone()),
        );
        classes.retain(|c| !c.eq_ignore_ascii_case("dserver"));
        out.push(ds.clone());
        out.push(classes.len().to_string());
        for class in &classes {
            flat_props(&mut out, class, s.class_props.get(&lc(class)));
            flat_attr_props(&mut out, class, s.class_attr_props.get(&lc(class)));
            if pipes {
                out.extend([class.clone(), "0".into()]);
            }
            let mut devs: Vec<&DeviceRec> =
                s.devices.values().filter(|d| d.server.eq_ignore_ascii_case(ds) && d.class.eq_ignore_ascii_case(class)).collect();
            devs.sort_by_key(|d| d.name.to_ascii_lowercase());
            out.push(class.clone());
            out.push(devs.len().to_string());
            out.extend(devs.iter().map(|d| d.name.clone()));
            for d in devs {
                flat_props(&mut out, &d.name, s.device_props.get(&lc(&d.name)));
                flat_attr_props(&mut out, &d.name, s.device_attr_props.get(&lc(&d.name)));
                if pipes {
                    out.extend([d.name.clone(), "0".into()]);
                }
            }
        }
        let ctrl = s.free_props.get("ctrlsystem");
        flat_props(&mut out, "CtrlSystem", ctrl);
        let access = ctrl.and_then(|m| m.get("services")).and_then(|p| {
            p.values.iter().find_map(|v| {
                let name = &v[v.find("AccessControl/tango:")? + "AccessControl/tango:".len()..];
                Some(match name.find("tango://") {
                    Some(_) => name.rsplitn(4, '/').take(3).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("/"),
                    None => name.to_string(),
                })
            })
        });
        if let Some(dev) = access {
            self.import_for_cache(&dev, &mut out);
        }
        Ok(out)
    }

    /// `name, ior, version, server, host, exported, pid, class`, or `name, "Not Found"`.
    fn import_for_cache(&self, name: &str, out: &mut Vec<String>) -> bool {
        out.push(name.to_string());
        match self.state.devices.get(&lc(name)) {
            None => {
                out.push("Not Found".into());
                false
            }
            Some(d) => {
                out.extend([
                    d.ior.clone(),
                    d.version.clone(),
                    d.server.clone(),
                    d.host.clone(),
                    (d.exported as i32).to_string(),
                    d.pid.to_string(),
                    d.class.clone(),
                ]);
                true
            }
        }
    }
}
