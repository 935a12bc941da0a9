-- The embedded Tango database's tables: the tables and columns of the C++ DataBaseds schema
-- (Debian tango-db, create_db_tables.sql) in SQLite, so `DbMySqlSelect` queries written for
-- the C++ database read the same names here. Names compare case-insensitively (NOCASE), as
-- MySQL's default collation does; dates are 'YYYY-MM-DD HH:MM:SS' UTC.

CREATE TABLE IF NOT EXISTS access_address (user TEXT COLLATE NOCASE, address TEXT, netmask TEXT DEFAULT 'FF.FF.FF.FF', updated TEXT, accessed TEXT DEFAULT '2000-01-01 00:00:00');
CREATE TABLE IF NOT EXISTS access_device (user TEXT COLLATE NOCASE, device TEXT COLLATE NOCASE, rights TEXT, updated TEXT, accessed TEXT DEFAULT '2000-01-01 00:00:00');
CREATE TABLE IF NOT EXISTS attribute_alias (alias TEXT NOT NULL DEFAULT '' COLLATE NOCASE, name TEXT NOT NULL DEFAULT '' COLLATE NOCASE, device TEXT NOT NULL DEFAULT '' COLLATE NOCASE, attribute TEXT NOT NULL DEFAULT '' COLLATE NOCASE, updated TEXT, accessed TEXT DEFAULT '2000-01-01 00:00:00', comment TEXT);
CREATE INDEX IF NOT EXISTS index_attribute_alias ON attribute_alias (alias, name);
CREATE TABLE IF NOT EXISTS attribute_class (class TEXT NOT NULL DEFAULT '' COLLATE NOCASE, name TEXT NOT NULL DEFAULT '' COLLATE NOCASE, updated TEXT, accessed TEXT DEFAULT '2000-01-01 00:00:00', comment TEXT);
CREATE TABLE IF NOT EXISTS device (
  name TEXT NOT NULL DEFAULT 'nada' COLLATE NOCASE, alias TEXT DEFAULT NULL COLLATE NOCASE,
  domain TEXT NOT NULL DEFAULT 'nada' COLLATE NOCASE, family TEXT NOT NULL DEFAULT 'nada' COLLATE NOCASE,
  member TEXT NOT NULL DEFAULT 'nada' COLLATE NOCASE, exported INTEGER DEFAULT 0, ior TEXT,
  host TEXT NOT NULL DEFAULT 'nada' COLLATE NOCASE, server TEXT NOT NULL DEFAULT 'nada' COLLATE NOCASE,
  pid INTEGER DEFAULT 0, class TEXT NOT NULL DEFAULT 'nada' COLLATE NOCASE, version TEXT NOT NULL DEFAULT 'nada',
  started TEXT DEFAULT NULL, stopped TEXT DEFAULT NULL, comment TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS device_name ON device (name);
CREATE INDEX IF NOT EXISTS device_alias ON device (alias);
CREATE INDEX IF NOT EXISTS device_server ON device (server);
CREATE INDEX IF NOT EXISTS device_class ON device (class);
CREATE TABLE IF NOT EXISTS event (name TEXT COLLATE NOCASE, exported INTEGER, ior TEXT, host TEXT, server TEXT, pid INTEGER, version TEXT, started TEXT, stopped TEXT);
CREATE TABLE IF NOT EXISTS property (object TEXT COLLATE NOCASE, name TEXT COLLATE NOCASE, count INTEGER, value TEXT, updated TEXT, accessed TEXT DEFAULT '2000-01-01 00:00:00', comment TEXT);
CREATE INDEX IF NOT EXISTS property_index_name ON property (object, name, count);
CREATE TABLE IF NOT EXISTS property_attribute_class (class TEXT NOT NULL DEFAULT '' COLLATE NOCASE, attribute TEXT NOT NULL DEFAULT '' COLLATE NOCASE, name TEXT NOT NULL DEFAULT '' COLLATE NOCASE, count INTEGER NOT NULL DEFAULT 0, value TEXT, updated TEXT, accessed TEXT DEFAULT '2000-01-01 00:00:00', comment TEXT);
CREATE INDEX IF NOT EXISTS index_property_attribute_class ON property_attribute_class (class, attribute, name, count);
CREATE TABLE IF NOT EXISTS property_attribute_device (device TEXT NOT NULL DEFAULT '' COLLATE NOCASE, attribute TEXT NOT NULL DEFAULT '' COLLATE NOCASE, name TEXT NOT NULL DEFAULT '' COLLATE NOCASE, count INTEGER NOT NULL DEFAULT 0, value TEXT, updated TEXT, accessed TEXT DEFAULT '2000-01-01 00:00:00', comment TEXT);
CREATE INDEX IF NOT EXISTS index_property_attribute_device ON property_attribute_device (device, attribute, name, count);
CREATE TABLE IF NOT EXISTS property_class (class TEXT NOT NULL DEFAULT '' COLLATE NOCASE, name TEXT NOT NULL DEFAULT '' COLLATE NOCASE, count INTEGER NOT NULL DEFAULT 0, value TEXT, updated TEXT, accessed TEXT DEFAULT '2000-01-01 00:00:00', comment TEXT);
CREATE INDEX IF NOT EXISTS index_property ON property_class (class, name, count);
CREATE TABLE IF NOT EXISTS property_device (device TEXT NOT NULL DEFAULT '' COLLATE NOCASE, name TEXT NOT NULL DEFAULT '' COLLATE NOCASE, domain TEXT NOT NULL DEFAULT '' COLLATE NOCASE, family TEXT NOT NULL DEFAULT '' COLLATE NOCASE, member TEXT NOT NULL DEFAULT '' COLLATE NOCASE, count INTEGER NOT NULL DEFAULT 0, value TEXT, updated TEXT, accessed TEXT DEFAULT '2000-01-01 00:00:00', comment TEXT);
CREATE INDEX IF NOT EXISTS index_resource ON property_device (device, name, count);
CREATE TABLE IF NOT EXISTS property_pipe_class (class TEXT NOT NULL DEFAULT '' COLLATE NOCASE, pipe TEXT NOT NULL DEFAULT '' COLLATE NOCASE, name TEXT NOT NULL DEFAULT '' COLLATE NOCASE, count INTEGER NOT NULL DEFAULT 0, value TEXT, updated TEXT, accessed TEXT DEFAULT '2000-01-01 00:00:00', comment TEXT);
CREATE INDEX IF NOT EXISTS index_property_pipe_class ON property_pipe_class (class, pipe, name, count);
CREATE TABLE IF NOT EXISTS property_pipe_device (device TEXT NOT NULL DEFAULT '' COLLATE NOCASE, pipe TEXT NOT NULL DEFAULT '' COLLATE NOCASE, name TEXT NOT NULL DEFAULT '' COLLATE NOCASE, count INTEGER NOT NULL DEFAULT 0, value TEXT, updated TEXT, accessed TEXT DEFAULT '2000-01-01 00:00:00', comment TEXT);
CREATE INDEX IF NOT EXISTS index_property_pipe_device ON property_pipe_device (device, pipe, name, count);
CREATE TABLE IF NOT EXISTS server (name TEXT NOT NULL DEFAULT '' COLLATE NOCASE, host TEXT NOT NULL DEFAULT '' COLLATE NOCASE, mode INTEGER DEFAULT 0, level INTEGER DEFAULT 0);
CREATE INDEX IF NOT EXISTS server_index_name ON server (name);
CREATE TABLE IF NOT EXISTS device_history_id (id INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS device_attribute_history_id (id INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS device_pipe_history_id (id INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS class_history_id (id INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS class_attribute_history_id (id INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS class_pipe_history_id (id INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS object_history_id (id INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS property_hist (id INTEGER NOT NULL DEFAULT 0, date TEXT NOT NULL, object TEXT NOT NULL DEFAULT '' COLLATE NOCASE, name TEXT NOT NULL DEFAULT '' COLLATE NOCASE, count INTEGER NOT NULL DEFAULT 0, value TEXT);
CREATE INDEX IF NOT EXISTS property_hist_object ON property_hist (object, name, id);
CREATE TABLE IF NOT EXISTS property_device_hist (id INTEGER NOT NULL DEFAULT 0, date TEXT NOT NULL, device TEXT NOT NULL DEFAULT '' COLLATE NOCASE, name TEXT NOT NULL DEFAULT '' COLLATE NOCASE, count INTEGER NOT NULL DEFAULT 0, value TEXT);
CREATE INDEX IF NOT EXISTS property_device_hist_device ON property_device_hist (device, name, id);
CREATE TABLE IF NOT EXISTS property_class_hist (id INTEGER NOT NULL DEFAULT 0, date TEXT NOT NULL, class TEXT NOT NULL DEFAULT '' COLLATE NOCASE, name TEXT NOT NULL DEFAULT '' COLLATE NOCASE, count INTEGER NOT NULL DEFAULT 0, value TEXT);
CREATE INDEX IF NOT EXISTS property_class_hist_class ON property_class_hist (class, name, id);
CREATE TABLE IF NOT EXISTS property_attribute_class_hist (id INTEGER NOT NULL DEFAULT 0, date TEXT NOT NULL, class TEXT NOT NULL DEFAULT '' COLLATE NOCASE, attribute TEXT NOT NULL DEFAULT '' COLLATE NOCASE, name TEXT NOT NULL DEFAULT '' COLLATE NOCASE, count INTEGER NOT NULL DEFAULT 0, value TEXT);
CREATE INDEX IF NOT EXISTS property_attribute_class_hist_class ON property_attribute_class_hist (class, attribute, name, id);
CREATE TABLE IF NOT EXISTS property_attribute_device_hist (id INTEGER NOT NULL DEFAULT 0, date TEXT NOT NULL, device TEXT NOT NULL DEFAULT '' COLLATE NOCASE, attribute TEXT NOT NULL DEFAULT '' COLLATE NOCASE, name TEXT NOT NULL DEFAULT '' COLLATE NOCASE, count INTEGER NOT NULL DEFAULT 0, value TEXT);
CREATE INDEX IF NOT EXISTS property_attribute_device_hist_device ON property_attribute_device_hist (device, attribute, name, id);
CREATE TABLE IF NOT EXISTS property_pipe_class_hist (id INTEGER NOT NULL DEFAULT 0, date TEXT NOT NULL, class TEXT NOT NULL DEFAULT '' COLLATE NOCASE, pipe TEXT NOT NULL DEFAULT '' COLLATE NOCASE, name TEXT NOT NULL DEFAULT '' COLLATE NOCASE, count INTEGER NOT NULL DEFAULT 0, value TEXT);
CREATE INDEX IF NOT EXISTS property_pipe_class_hist_class ON property_pipe_class_hist (class, pipe, name, id);
CREATE TABLE IF NOT EXISTS property_pipe_device_hist (id INTEGER NOT NULL DEFAULT 0, date TEXT NOT NULL, device TEXT NOT NULL DEFAULT '' COLLATE NOCASE, pipe TEXT NOT NULL DEFAULT '' COLLATE NOCASE, name TEXT NOT NULL DEFAULT '' COLLATE NOCASE, count INTEGER NOT NULL DEFAULT 0, value TEXT);
CREATE INDEX IF NOT EXISTS property_pipe_device_hist_device ON property_pipe_device_hist (device, pipe, name, id);
