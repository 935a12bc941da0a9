//! Devices and servers: `DbAddDevice`, `DbAddServer`, `DbDelete*`, `DbExport*`/`DbUnExport*`,
//! `DbImportDevice`, `DbGetDeviceInfo` and the name, server, class and host listings.

use super::args::*;
use super::store::*;

impl Store {
    // ---- devices and servers ------------------------------------------------------------

    /// `DbAddDevice [server, device, class(, alias)]`.
    pub fn add_device(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "AddDevice()";
        need_args(argin, 3, "server, device, class", O)?;
        let (server, dev, class) = (&argin[0], &argin[1], &argin[2]);
        check_server_name(server, O)?;
        check_device_name(dev, O)?;
        check_class_name(class, O)?;
        let alias = argin.get(3).filter(|a| !a.trim().is_empty()).cloned();
        self.mutate(|s| {
            add_device_to(s, server, dev, class, alias);
            Ok(())
        })
    }

    /// `DbAddServer [server, device1, class1, device2, class2, ...]`.
    pub fn add_server(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "AddServer()";
        need_args(argin, 3, "server, device, class", O)?;
        if !(argin.len() - 1).is_multiple_of(2) {
            return Err(err(
                "DB_IncorrectArguments",
                format!("after the server name, devices and classes come in pairs; got {} element(s)", argin.len() - 1),
                O,
            ));
        }
        check_server_name(&argin[0], O)?;
        for pair in argin[1..].chunks(2) {
            check_device_name(&pair[0], O)?;
            check_class_name(&pair[1], O)?;
        }
        self.mutate(|s| {
            for pair in argin[1..].chunks(2) {
                add_device_to(s, &argin[0], &pair[0], &pair[1], None);
            }
            Ok(())
        })
    }

    /// `DbDeleteDevice name`: the device and all its properties.
    pub fn delete_device(&mut self, name: &str) -> R<()> {
        check_device_name(name, "DeleteDevice()")?;
        self.mutate(|s| {
            delete_device_from(s, name);
            Ok(())
        })
    }

    /// `DbDeleteServer server`: every device of the server (admin device included).
    pub fn delete_server(&mut self, server: &str) -> R<()> {
        check_server_name(server, "DeleteServer()")?;
        self.mutate(|s| {
            let names: Vec<String> = s.devices.values().filter(|d| d.server.eq_ignore_ascii_case(server)).map(|d| d.name.clone()).collect();
            for n in names {
                delete_device_from(s, &n);
            }
            Ok(())
        })
    }

    fn find_device<'a>(s: &'a State, name_or_alias: &str) -> Option<&'a DeviceRec> {
        s.devices
            .get(&lc(name_or_alias))
            .or_else(|| s.devices.values().find(|d| d.alias.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(name_or_alias))))
    }

    /// `DbExportDevice [name, ior, host, pid, version]`.
    pub fn export_device(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "ExportDevice()";
        need_args(argin, 5, "device name, IOR, host, pid, version", O)?;
        let pid: i32 =
            argin[3].trim().parse().map_err(|_| err("DB_IncorrectArguments", format!("pid {:?} is not a number", argin[3]), O))?;
        if !argin[1].starts_with("IOR:") {
            return Err(err(
                "DB_IncorrectArguments",
                format!("the IOR of {} must be a stringified IOR (\"IOR:...\"), got {:?}", argin[0], truncate(&argin[1])),
                O,
            ));
        }
        let key = lc(&argin[0]);
        if !self.state.devices.contains_key(&key) {
            return Err(not_defined("device", &argin[0], O));
        }
        self.mutate(|s| {
            let d = s.devices.get_mut(&key).expect("checked above");
            d.exported = true;
            d.ior = argin[1].clone();
            d.host = argin[2].clone();
            d.pid = pid;
            d.version = argin[4].clone();
            d.started = Some(now_string());
            Ok(())
        })
    }

    /// `DbUnExportDevice name`.
    pub fn unexport_device(&mut self, name: &str) -> R<()> {
        let key = lc(name);
        if !self.state.devices.contains_key(&key) {
            return Err(not_defined("device", name, "UnExportDevice()"));
        }
        self.mutate(|s| {
            let d = s.devices.get_mut(&key).expect("checked above");
            d.exported = false;
            d.stopped = Some(now_string());
            Ok(())
        })
    }

    /// `DbUnExportServer server`.
    pub fn unexport_server(&mut self, server: &str) -> R<()> {
        check_server_name(server, "UnExportServer()")?;
        let now = now_string();
        self.mutate(|s| {
            for d in s.devices.values_mut().filter(|d| d.server.eq_ignore_ascii_case(server)) {
                d.exported = false;
                d.stopped = Some(now.clone());
            }
            Ok(())
        })
    }

    /// `DbImportDevice name` → `([exported, pid], [name, ior, version, server, host, class])`.
    pub fn import_device(&self, name: &str) -> R<(Vec<i32>, Vec<String>)> {
        let d = Self::find_device(&self.state, name).ok_or_else(|| not_defined("device", name, "ImportDevice()"))?;
        Ok((
            vec![d.exported as i32, d.pid],
            vec![lc(&d.name), d.ior.clone(), d.version.clone(), d.server.clone(), d.host.clone(), d.class.clone()],
        ))
    }

    /// `DbGetDeviceInfo name` → `([exported, pid], [name, ior, version, server, host, started, stopped, class])`.
    pub fn device_info(&self, name: &str) -> R<(Vec<i32>, Vec<String>)> {
        let d = Self::find_device(&self.state, name).ok_or_else(|| not_defined("device", name, "GetDeviceInfo()"))?;
        let date = |o: &Option<String>| o.clone().unwrap_or_else(|| "?".into());
        Ok((
            vec![d.exported as i32, d.pid],
            vec![
                lc(&d.name),
                d.ior.clone(),
                d.version.clone(),
                d.server.clone(),
                d.host.clone(),
                date(&d.started),
                date(&d.stopped),
                d.class.clone(),
            ],
        ))
    }

    /// `DbGetDeviceList [server, class]` (wildcards allowed).
    pub fn device_list(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 2, "server, class", "GetDeviceList()")?;
        Ok(self
            .state
            .devices
            .values()
            .filter(|d| wildcard_match(&argin[0], &d.server) && wildcard_match(&argin[1], &d.class))
            .map(|d| d.name.clone())
            .collect())
    }

    /// `DbGetDeviceWideList pattern`.
    pub fn device_wide_list(&self, pattern: &str) -> Vec<String> {
        self.state.devices.values().filter(|d| wildcard_match(pattern, &d.name)).map(|d| d.name.clone()).collect()
    }

    /// `DbGetDeviceExportedList pattern`: exported devices whose name or alias matches.
    pub fn exported_list(&self, pattern: &str) -> Vec<String> {
        self.state
            .devices
            .values()
            .filter(|d| d.exported && (wildcard_match(pattern, &d.name) || d.alias.as_deref().is_some_and(|a| wildcard_match(pattern, a))))
            .map(|d| d.name.clone())
            .collect()
    }

    /// `DbGetExportdDeviceListForClass class`.
    pub fn exported_list_for_class(&self, class: &str) -> Vec<String> {
        self.state.devices.values().filter(|d| d.exported && wildcard_match(class, &d.class)).map(|d| d.name.clone()).collect()
    }

    /// Domain (0), family (1) or member (2) of the devices whose name matches `pattern`.
    pub fn name_parts(&self, pattern: &str, part: usize) -> Vec<String> {
        distinct_sorted(
            self.state
                .devices
                .values()
                .filter(|d| wildcard_match(pattern, &d.name))
                .filter_map(|d| d.name.split('/').nth(part).map(String::from)),
        )
    }

    /// `DbGetServerList pattern`.
    pub fn server_list(&self, pattern: &str) -> Vec<String> {
        distinct_sorted(self.state.devices.values().filter(|d| wildcard_match(pattern, &d.server)).map(|d| d.server.clone()))
    }

    /// `DbGetServerNameList pattern`: executable names.
    pub fn server_name_list(&self, pattern: &str) -> Vec<String> {
        distinct_sorted(
            self.state.devices.values().filter_map(|d| d.server.split('/').next().map(String::from)).filter(|e| wildcard_match(pattern, e)),
        )
    }

    /// `DbGetInstanceNameList executable`.
    pub fn instance_name_list(&self, exec: &str) -> Vec<String> {
        distinct_sorted(self.state.devices.values().filter_map(|d| {
            let (e, i) = d.server.split_once('/')?;
            wildcard_match(exec, e).then(|| i.to_string())
        }))
    }

    /// `DbGetDeviceServerClassList server`.
    pub fn server_class_list(&self, server: &str) -> Vec<String> {
        distinct_sorted(self.state.devices.values().filter(|d| wildcard_match(server, &d.server)).map(|d| d.class.clone()))
    }

    /// `DbGetDeviceClassList server` → `[device, class, ...]`.
    pub fn device_class_list(&self, server: &str) -> Vec<String> {
        self.state
            .devices
            .values()
            .filter(|d| d.server.eq_ignore_ascii_case(server))
            .flat_map(|d| [d.name.clone(), d.class.clone()])
            .collect()
    }

    /// `DbGetClassList pattern`: classes that have devices.
    pub fn class_list(&self, pattern: &str) -> Vec<String> {
        distinct_sorted(self.state.devices.values().filter(|d| wildcard_match(pattern, &d.class)).map(|d| d.class.clone()))
    }

    /// `DbGetClassForDevice device`.
    pub fn class_for_device(&self, name: &str) -> R<String> {
        Self::find_device(&self.state, name).map(|d| d.class.clone()).ok_or_else(|| not_defined("device", name, "GetClassForDevice()"))
    }

    /// `DbGetHostList pattern`: hosts of exported servers.
    pub fn host_list(&self, pattern: &str) -> Vec<String> {
        distinct_sorted(
            self.state.devices.values().filter(|d| d.host != "nada" && wildcard_match(pattern, &d.host)).map(|d| d.host.clone()),
        )
    }

    /// `DbGetHostServerList host`.
    pub fn host_server_list(&self, host: &str) -> Vec<String> {
        distinct_sorted(self.state.devices.values().filter(|d| wildcard_match(host, &d.host)).map(|d| d.server.clone()))
    }
}

pub(crate) fn add_device_to(s: &mut State, server: &str, dev: &str, class: &str, alias: Option<String>) {
    let key = lc(dev);
    let rec = DeviceRec {
        name: dev.to_string(),
        server: server.to_string(),
        class: class.to_string(),
        alias,
        exported: false,
        ior: "nada".into(),
        version: "0".into(),
        host: "nada".into(),
        pid: 0,
        started: None,
        stopped: None,
    };
    s.devices.insert(key, rec);
    let has_admin = s.devices.values().any(|d| d.class == "DServer" && d.server.eq_ignore_ascii_case(server));
    if !has_admin {
        let admin = format!("dserver/{server}");
        s.devices.insert(
            lc(&admin),
            DeviceRec {
                name: admin,
                server: server.to_string(),
                class: "DServer".into(),
                alias: None,
                exported: false,
                ior: "nada".into(),
                version: "0".into(),
                host: "nada".into(),
                pid: 0,
                started: None,
                stopped: None,
            },
        );
    }
}

pub(crate) fn delete_device_from(s: &mut State, name: &str) {
    let key = lc(name);
    s.devices.remove(&key);
    s.device_props.remove(&key);
    s.device_attr_props.remove(&key);
}
