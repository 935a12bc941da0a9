//! `DbGetDataForServerCache`: everything a device server reads at start-up in one reply.

use super::args::*;
use super::prop_table::{PropTable, CLASS, CLASS_ATTR, CLASS_PIPE, DEVICE, DEVICE_ATTR, DEVICE_PIPE, OBJECT};
use super::store::*;

/// The procedure release of the `ds_start` layout that includes pipe properties.
pub(crate) const CACHE_LAYOUT_RELEASE: &str = "release 1.13";

/// `n, (name, n_values, values...)*`.
pub(crate) fn push_counted(out: &mut Vec<String>, props: Vec<(String, Vec<String>)>) {
    out.push(props.len().to_string());
    for (name, values) in props {
        out.push(name);
        out.push(values.len().to_string());
        out.extend(values);
    }
}

impl Store {
    /// `object, n, (name, n_values, values...)*` (the server-cache layout).
    fn flat_props(&self, out: &mut Vec<String>, t: &PropTable, object: &str) -> R<()> {
        out.push(object.to_string());
        push_counted(out, t.all(&self.conn, object, None)?);
        Ok(())
    }

    /// `object, n_sub, (sub, n_props, (prop, n_values, values...)*)*`.
    fn flat_sub_props(&self, out: &mut Vec<String>, t: &PropTable, object: &str) -> R<()> {
        let subs = t.subs(&self.conn, object, "*")?;
        out.push(object.to_string());
        out.push(subs.len().to_string());
        for sub in subs {
            let props = t.all(&self.conn, object, Some(&sub))?;
            out.push(sub);
            push_counted(out, props);
        }
        Ok(())
    }

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
        let mut out = Vec::new();
        if pipes {
            out.push(CACHE_LAYOUT_RELEASE.to_string());
        }
        let admin = format!("dserver/{ds}");
        if !self.import_for_cache(&admin, &mut out)? {
            return Ok(out);
        }
        out.extend([format!("notifd/factory/{host}"), "Not Found".into(), admin.clone(), "Not Found".into()]);
        self.flat_props(&mut out, &CLASS, "DServer")?;
        self.flat_props(&mut out, &CLASS, "Default")?;
        self.flat_props(&mut out, &DEVICE, &admin)?;
        let classes =
            distinct_sorted(self.column("SELECT DISTINCT class FROM device WHERE server = ?1 AND class <> 'DServer'", &[ds])?.into_iter());
        out.push(ds.clone());
        out.push(classes.len().to_string());
        for class in &classes {
            self.flat_props(&mut out, &CLASS, class)?;
            self.flat_sub_props(&mut out, &CLASS_ATTR, class)?;
            if pipes {
                self.flat_sub_props(&mut out, &CLASS_PIPE, class)?;
            }
            let devs = self.column("SELECT name FROM device WHERE server = ?1 AND class = ?2 ORDER BY name", &[ds, class])?;
            out.push(class.clone());
            out.push(devs.len().to_string());
            out.extend(devs.iter().cloned());
            for d in &devs {
                self.flat_props(&mut out, &DEVICE, d)?;
                self.flat_sub_props(&mut out, &DEVICE_ATTR, d)?;
                if pipes {
                    self.flat_sub_props(&mut out, &DEVICE_PIPE, d)?;
                }
            }
        }
        self.flat_props(&mut out, &OBJECT, "CtrlSystem")?;
        let services = OBJECT.values(&self.conn, "CtrlSystem", None, "Services")?;
        let access = services.iter().find_map(|v| {
            let name = &v[v.find("AccessControl/tango:")? + "AccessControl/tango:".len()..];
            Some(match name.find("tango://") {
                Some(_) => name.rsplitn(4, '/').take(3).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("/"),
                None => name.to_string(),
            })
        });
        if let Some(dev) = access {
            self.import_for_cache(&dev, &mut out)?;
        }
        Ok(out)
    }
}
