//! Aliases: device aliases in the `device` table's `alias` column (`DbPutDeviceAlias`,
//! `DbDeleteDeviceAlias`, `DbGetDeviceAlias`, `DbGetAliasDevice`, `DbGetDeviceAliasList`) and
//! attribute aliases in `attribute_alias` (`DbPutAttributeAlias`, `DbDeleteAttributeAlias`,
//! `DbGetAttributeAlias`, `DbGetAttributeAlias2`, `DbGetAliasAttribute`,
//! `DbGetAttributeAliasList`), with the C++ DataBaseds' error reasons.

use rusqlite::OptionalExtension;

use super::args::*;
use super::store::*;

impl Store {
    fn one(&self, sql: &str, key: &str) -> R<Option<String>> {
        let mut st = self.conn.prepare_cached(sql).map_err(sql_err)?;
        st.query_row([key], |r| r.get::<_, Option<String>>(0)).optional().map(Option::flatten).map_err(sql_err)
    }

    /// `DbPutDeviceAlias [device, alias]`.
    pub fn put_device_alias(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "PutDeviceAlias()";
        need_args(argin, 2, "device name, alias", O)?;
        let (dev, alias) = (&argin[0], &argin[1]);
        if alias.trim().is_empty() || alias.contains('/') {
            return Err(err("DB_IncorrectArguments", format!("alias {alias:?} must be non-empty and contain no '/'"), O));
        }
        if !self.exists("SELECT 1 FROM device WHERE name = ?1", &[dev])? {
            return Err(not_defined("device", dev, O));
        }
        if let Some(other) = self.one("SELECT name FROM device WHERE alias = ?1", alias)?.filter(|o| !o.eq_ignore_ascii_case(dev)) {
            return Err(err("DB_SQLError", format!("alias {alias} is already used by device {other}"), O));
        }
        self.tx(|tx| exec(tx, "UPDATE device SET alias = ?2 WHERE name = ?1", &[dev, alias]).map(drop))
    }

    /// `DbDeleteDeviceAlias alias`.
    pub fn delete_device_alias(&mut self, alias: &str) -> R<()> {
        self.tx(|tx| exec(tx, "UPDATE device SET alias = NULL WHERE alias = ?1", &[&alias]).map(drop))
    }

    /// `DbGetDeviceAlias device`.
    pub fn device_alias(&self, dev: &str) -> R<String> {
        const O: &str = "GetDeviceAlias()";
        if !self.exists("SELECT 1 FROM device WHERE name = ?1", &[&dev])? {
            return Err(not_defined("device", dev, O));
        }
        self.one("SELECT alias FROM device WHERE name = ?1", dev)?
            .filter(|a| !a.is_empty())
            .ok_or_else(|| err("DB_AliasNotDefined", format!("no alias found for device {dev}"), O))
    }

    /// `DbGetAliasDevice alias`.
    pub fn alias_device(&self, alias: &str) -> R<String> {
        self.one("SELECT name FROM device WHERE alias = ?1", alias)?
            .ok_or_else(|| err("DB_AliasNotDefined", format!("no device found for alias {alias}"), "GetAliasDevice()"))
    }

    /// `DbGetDeviceAliasList pattern`.
    pub fn device_alias_list(&self, pattern: &str) -> R<Vec<String>> {
        let v = self.column(
            "SELECT DISTINCT alias FROM device WHERE alias LIKE ?1 ESCAPE '\\' AND alias IS NOT NULL ORDER BY alias",
            &[&like(pattern)],
        )?;
        Ok(distinct_sorted(v.into_iter()))
    }

    /// `DbPutAttributeAlias [domain/family/member/attribute, alias]`.
    pub fn put_attribute_alias(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "PutAttributeAlias()";
        need_args(argin, 2, "attribute name (domain/family/member/attribute), alias", O)?;
        let (attr, alias) = (&argin[0], &argin[1]);
        let Some((dev, att)) = attr.rsplit_once('/').filter(|(d, a)| d.matches('/').count() == 2 && !a.is_empty()) else {
            return Err(err("DB_SQLError", format!("attribute name {attr} has bad syntax, must have 3 / in it"), O));
        };
        if alias.trim().is_empty() || alias.contains('/') {
            return Err(err("DB_IncorrectArguments", format!("alias {alias:?} must be non-empty and contain no '/'"), O));
        }
        if self.exists("SELECT 1 FROM attribute_alias WHERE alias = ?1 AND name <> ?2", &[alias, attr])? {
            return Err(err("DB_SQLError", format!("alias {alias} already exists !"), O));
        }
        let now = now_sql();
        self.tx(|tx| {
            exec(tx, "DELETE FROM attribute_alias WHERE alias = ?1", &[alias])?;
            exec(
                tx,
                "INSERT INTO attribute_alias (alias, name, device, attribute, updated) VALUES (?1, ?2, ?3, ?4, ?5)",
                &[alias, attr, &dev, &att, &now],
            )
            .map(drop)
        })
    }

    /// `DbDeleteAttributeAlias alias` (an unknown alias is not an error, as in the C++ server).
    pub fn delete_attribute_alias(&mut self, alias: &str) -> R<()> {
        self.tx(|tx| exec(tx, "DELETE FROM attribute_alias WHERE alias = ?1", &[&alias]).map(drop))
    }

    /// `DbGetAttributeAlias alias` / `DbGetAliasAttribute alias`: the attribute's full name.
    pub fn alias_attribute(&self, alias: &str) -> R<String> {
        self.one("SELECT name FROM attribute_alias WHERE alias = ?1", alias)?
            .ok_or_else(|| err("DB_SQLError", format!("No attribute found for alias  '{alias}'"), "GetAliasAttribute()"))
    }

    /// `DbGetAttributeAlias2 attribute`: the alias of an attribute.
    pub fn attribute_alias2(&self, attr: &str) -> R<String> {
        self.one("SELECT alias FROM attribute_alias WHERE name = ?1", attr)?
            .ok_or_else(|| err("DB_SQLError", format!("No alias found for attribute  '{attr}'"), "GetAttributeAlias2()"))
    }

    /// `DbGetAttributeAliasList pattern`.
    pub fn attribute_alias_list(&self, pattern: &str) -> R<Vec<String>> {
        self.column("SELECT alias FROM attribute_alias WHERE alias LIKE ?1 ESCAPE '\\' ORDER BY alias", &[&like(pattern)])
    }
}
