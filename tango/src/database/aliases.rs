//! Device aliases: `DbPutDeviceAlias`, `DbDeleteDeviceAlias`, `DbGetDeviceAlias`,
//! `DbGetAliasDevice`, `DbGetDeviceAliasList`.

use super::args::*;
use super::store::*;

impl Store {
    // ---- aliases -------------------------------------------------------------------------

    /// `DbPutDeviceAlias [device, alias]`.
    pub fn put_device_alias(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "PutDeviceAlias()";
        need_args(argin, 2, "device name, alias", O)?;
        let (dev, alias) = (&argin[0], &argin[1]);
        if alias.trim().is_empty() || alias.contains('/') {
            return Err(err("DB_IncorrectArguments", format!("alias {alias:?} must be non-empty and contain no '/'"), O));
        }
        let key = lc(dev);
        if !self.state.devices.contains_key(&key) {
            return Err(not_defined("device", dev, O));
        }
        if let Some(other) =
            self.state.devices.values().find(|d| d.alias.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(alias)) && lc(&d.name) != key)
        {
            return Err(err("DB_SQLError", format!("alias {alias} is already used by device {}", other.name), O));
        }
        self.mutate(|s| {
            s.devices.get_mut(&key).expect("checked").alias = Some(alias.clone());
            Ok(())
        })
    }

    /// `DbDeleteDeviceAlias alias`.
    pub fn delete_device_alias(&mut self, alias: &str) -> R<()> {
        self.mutate(|s| {
            for d in s.devices.values_mut().filter(|d| d.alias.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(alias))) {
                d.alias = None;
            }
            Ok(())
        })
    }

    /// `DbGetDeviceAlias device`.
    pub fn device_alias(&self, dev: &str) -> R<String> {
        let d = self.state.devices.get(&lc(dev)).ok_or_else(|| not_defined("device", dev, "GetDeviceAlias()"))?;
        d.alias.clone().ok_or_else(|| err("DB_AliasNotDefined", format!("no alias found for device {dev}"), "GetDeviceAlias()"))
    }

    /// `DbGetAliasDevice alias`.
    pub fn alias_device(&self, alias: &str) -> R<String> {
        self.state
            .devices
            .values()
            .find(|d| d.alias.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(alias)))
            .map(|d| d.name.clone())
            .ok_or_else(|| err("DB_AliasNotDefined", format!("no device found for alias {alias}"), "GetAliasDevice()"))
    }

    /// `DbGetDeviceAliasList pattern`.
    pub fn device_alias_list(&self, pattern: &str) -> Vec<String> {
        distinct_sorted(self.state.devices.values().filter_map(|d| d.alias.clone()).filter(|a| wildcard_match(pattern, a)))
    }
}
