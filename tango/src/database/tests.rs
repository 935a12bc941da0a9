//! Unit tests of the `Db*` operations.

use super::args::*;
use super::store::*;

fn v(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

/// Every row of the tables the commands write, to show that a refused command changed nothing.
fn dump(s: &Store) -> Vec<String> {
    [
        "device",
        "property_device",
        "property_class",
        "property",
        "property_attribute_device",
        "property_attribute_class",
        "property_device_hist",
    ]
    .iter()
    .flat_map(|t| s.sql_select(&format!("SELECT * FROM {t} ORDER BY 1, 2")).unwrap().1)
    .collect()
}

fn reason<T: std::fmt::Debug>(r: R<T>) -> String {
    r.unwrap_err().reason().to_string()
}

#[test]
fn add_device_creates_the_admin_device_once() {
    let mut s = Store::in_memory();
    s.add_device(&v(&["SDPSubarray/1", "mid_sdp/elt/subarray_1", "SDPSubarray"])).unwrap();
    s.add_device(&v(&["SDPSubarray/1", "mid_sdp/elt/subarray_2", "SDPSubarray"])).unwrap();
    assert_eq!(s.device_list(&v(&["SDPSubarray/1", "SDPSubarray"])).unwrap(), v(&["mid_sdp/elt/subarray_1", "mid_sdp/elt/subarray_2"]));
    assert_eq!(s.device_list(&v(&["SDPSubarray/1", "DServer"])).unwrap(), v(&["dserver/SDPSubarray/1"]));
    assert_eq!(s.server_list("*").unwrap(), v(&["SDPSubarray/1"]));
    assert_eq!(s.server_name_list("SDP*").unwrap(), v(&["SDPSubarray"]));
    assert_eq!(s.instance_name_list("SDPSubarray").unwrap(), v(&["1"]));
    assert_eq!(s.name_parts("*", 0).unwrap(), v(&["dserver", "mid_sdp"]));
    assert_eq!(s.name_parts("mid_sdp/*", 1).unwrap(), v(&["elt"]));
    assert_eq!(s.name_parts("mid_sdp/elt/*", 2).unwrap(), v(&["subarray_1", "subarray_2"]));
    assert_eq!(s.device_class_list("SDPSubarray/1").unwrap().len(), 6);
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let mut s = Store::in_memory();
    s.add_device(&v(&["S/1", "a/b/c", "C"])).unwrap();
    let before = dump(&s);
    assert_eq!(reason(s.add_device(&v(&["S/1", "a/b", "C"]))), "DB_IncorrectDeviceName");
    assert_eq!(reason(s.add_device(&v(&["S", "a/b/d", "C"]))), "DB_IncorrectServerName");
    assert_eq!(reason(s.add_device(&v(&["S/1", "a/b/d"]))), "DB_IncorrectArguments");
    assert_eq!(reason(s.add_server(&v(&["S/1", "a/b/d", "C", "a/b/e"]))), "DB_IncorrectArguments");
    // the second pair is bad: the first is not added either
    assert_eq!(reason(s.add_server(&v(&["S/1", "a/b/d", "C", "x y/b/e", "C"]))), "DB_IncorrectDeviceName");
    assert_eq!(reason(s.put_device_property(&v(&["a/b/c", "2", "p", "1", "x"]))), "DB_IncorrectArguments");
    assert_eq!(reason(s.put_device_property(&v(&["a/b/c", "1", "p", "3", "x"]))), "DB_IncorrectArguments");
    assert_eq!(reason(s.export_device(&v(&["a/b/zz", "IOR:00", "h", "1", "5"]))), "DB_DeviceNotDefined");
    assert_eq!(reason(s.export_device(&v(&["a/b/c", "IOR:00", "h", "x", "5"]))), "DB_IncorrectArguments");
    assert_eq!(reason(s.export_device(&v(&["a/b/c", "corbaloc:x", "h", "1", "5"]))), "DB_IncorrectArguments");
    assert_eq!(reason(s.put_device_attribute_property2(&v(&["a/b/c", "1", "attr", "1", "p", "2", "x"]))), "DB_IncorrectArguments");
    assert_eq!(before, dump(&s));
    let e = s.add_device(&v(&["S/1", "a/b", "C"])).unwrap_err();
    assert!(e.errors[0].desc.contains("domain/family/member"), "{}", e.errors[0].desc);
}

#[test]
fn export_import_unexport() {
    let mut s = Store::in_memory();
    s.add_device(&v(&["S/1", "A/B/C", "C"])).unwrap();
    let (l, sv) = s.import_device("a/b/c").unwrap();
    assert_eq!(l, vec![0, 0]);
    assert_eq!(sv, v(&["a/b/c", "nada", "0", "S/1", "nada", "C"]));
    s.export_device(&v(&["a/b/c", "IOR:0102", "vm", "42", "5"])).unwrap();
    s.export_device(&v(&["dserver/S/1", "IOR:0103", "vm", "42", "5"])).unwrap();
    let (l, sv) = s.import_device("A/B/C").unwrap();
    assert_eq!(l, vec![1, 42]);
    assert_eq!(sv, v(&["a/b/c", "IOR:0102", "5", "S/1", "vm", "C"]));
    assert_eq!(s.exported_list("*").unwrap(), v(&["A/B/C", "dserver/S/1"]));
    let (_, info) = s.device_info("a/b/c").unwrap();
    assert_eq!(info.len(), 8);
    assert_eq!(info[6], "?");
    s.unexport_server("S/1").unwrap();
    assert!(s.exported_list("*").unwrap().is_empty());
    assert_eq!(s.import_device("a/b/c").unwrap().0, vec![0, 42]);
    assert_ne!(s.device_info("a/b/c").unwrap().1[6], "?");
    assert_eq!(reason(s.import_device("x/y/z")), "DB_DeviceNotDefined");
    s.delete_server("S/1").unwrap();
    assert!(s.device_wide_list("*").unwrap().is_empty());
}

#[test]
fn properties_in_the_real_layouts() {
    let mut s = Store::in_memory();
    s.put_device_property(&v(&["a/b/c", "2", "Speed", "1", "3", "Names", "2", "x", "y"])).unwrap();
    assert_eq!(
        s.get_device_property(&v(&["a/b/c", "speed", "missing"])).unwrap(),
        v(&["a/b/c", "2", "speed", "1", "3", "missing", "0", " "])
    );
    assert_eq!(s.device_property_list(&v(&["a/b/c", "*"])).unwrap(), v(&["Names", "Speed"]));
    s.delete_device_property(&v(&["a/b/c", "SPEED"])).unwrap();
    assert_eq!(s.device_property_list(&v(&["a/b/c", "*"])).unwrap(), v(&["Names"]));
    s.put_class_property(&v(&["SDPSubarray", "1", "TestMode", "1", "1"])).unwrap();
    assert_eq!(
        s.get_class_property(&v(&["SDPSubarray", "TestMode", "Other"])).unwrap(),
        v(&["SDPSubarray", "2", "TestMode", "1", "1", "Other", "0"])
    );
    assert_eq!(s.class_property_list("sdpsubarray").unwrap(), v(&["TestMode"]));
    assert_eq!(s.get_property(&v(&["CtrlSystem", "Services"])).unwrap(), v(&["CtrlSystem", "1", "Services", "0", " "]));
    s.put_property(&v(&["CtrlSystem", "1", "Services", "1", "AccessControl/tango:sys/access_control/1"])).unwrap();
    assert_eq!(s.object_list("*").unwrap(), v(&["CtrlSystem"]));
    s.put_device_attribute_property2(&v(&[
        "a/b/c",
        "2",
        "obsState",
        "1",
        "abs_change",
        "1",
        "1",
        "adminMode",
        "2",
        "label",
        "1",
        "Admin",
        "unit",
        "1",
        "m",
    ]))
    .unwrap();
    assert_eq!(
        s.get_device_attribute_property2(&v(&["a/b/c", "obsState", "nope"])).unwrap(),
        v(&["a/b/c", "2", "obsState", "1", "abs_change", "1", "1", "nope", "0"])
    );
    assert_eq!(s.device_attribute_list(&v(&["a/b/c", "*"])).unwrap(), v(&["adminMode", "obsState"]));
    s.delete_device_attribute_property(&v(&["a/b/c", "adminMode", "label"])).unwrap();
    s.delete_all_device_attribute_property(&v(&["a/b/c", "obsState"])).unwrap();
    assert_eq!(s.device_attribute_list(&v(&["a/b/c", "*"])).unwrap(), v(&["adminMode"]));
    s.put_class_attribute_property2(&v(&["C", "1", "x", "1", "min_value", "1", "0"])).unwrap();
    assert_eq!(s.get_class_attribute_property2(&v(&["C", "x"])).unwrap(), v(&["C", "1", "x", "1", "min_value", "1", "0"]));
}

#[test]
fn sql_select_reads_the_cpp_schema_and_changes_nothing() {
    let mut s = Store::in_memory();
    s.add_device(&v(&["S/1", "a/b/c", "C"])).unwrap();
    s.put_device_alias(&v(&["a/b/c", "abc"])).unwrap();
    let (l, sv) = s.sql_select("SELECT name, alias, server, class FROM device order by name").unwrap();
    assert_eq!(sv, v(&["a/b/c", "abc", "S/1", "C", "dserver/S/1", "", "S/1", "DServer"]));
    assert_eq!(l, vec![1, 1, 1, 1, 1, 0, 1, 1, 2, 4]);
    assert_eq!(s.sql_select("select  name, alias from attribute_alias order by alias").unwrap(), (vec![0, 2], vec![]));
    // the MySQL forms tools send
    s.add_device(&v(&["S/1", "a/b_x/d", "C"])).unwrap();
    s.add_device(&v(&["S/1", "a/bYx/e", "C"])).unwrap();
    let (_, sv) = s.sql_select(r"SELECT `name` FROM device WHERE name LIKE 'a/b\_x/%' ORDER BY name").unwrap();
    assert_eq!(sv, v(&["a/b_x/d"]));
    let (_, sv) = s
        .sql_select(
            "SELECT CONCAT(server, '|', class), IFNULL(alias, 'none') FROM device WHERE class IN ('C') GROUP BY name ORDER BY name DESC",
        )
        .unwrap();
    assert_eq!(sv, v(&["S/1|C", "none", "S/1|C", "none", "S/1|C", "abc"]));
    s.put_device_property(&v(&["a/b/c", "1", "p", "2", "x", "y"])).unwrap();
    let (l, sv) = s.sql_select("SELECT name, count(*) FROM property_device WHERE device = \"A/B/C\" GROUP BY name").unwrap();
    assert_eq!((l, sv), (vec![1, 1, 1, 2], v(&["p", "2"])));
    let before = dump(&s);
    for (bad, why) in [
        ("DELETE FROM device", "not valid SQL"),
        ("SELECT 1; DELETE FROM device", "one statement"),
        ("UPDATE device SET name = 'x'", "not valid SQL"),
        ("WITH x AS (SELECT 1) DELETE FROM device", "not valid SQL"),
        ("SELECT * FROM nope", "not valid SQL"),
    ] {
        let e = s.sql_select(bad).unwrap_err();
        assert_eq!(e.reason(), "DB_SQLError", "{bad}");
        assert!(e.errors[0].desc.contains(why), "{bad}: {}", e.errors[0].desc);
    }
    assert_eq!(before, dump(&s));
    assert_eq!(s.alias_device("ABC").unwrap(), "a/b/c");
    assert_eq!(s.import_device("abc").unwrap().1[0], "a/b/c");
    assert_eq!(reason(s.put_device_alias(&v(&["dserver/S/1", "abc"]))), "DB_SQLError");
}

#[test]
fn a_repeated_select_is_answered_from_its_kept_result_until_anything_changes() {
    let mut s = Store::in_memory();
    s.add_device(&v(&["S/1", "a/b/c", "C"])).unwrap();
    let q = "SELECT name, exported FROM device WHERE name IN ('a/b/c', 'a/b/d') ORDER BY name";
    let first = s.sql_select(q).unwrap();
    assert_eq!(first.1, v(&["a/b/c", "0"]));
    assert_eq!(s.select.borrow().kept_results(), 1);
    assert_eq!(s.sql_select(q).unwrap(), first);
    // every kind of write is seen by the next call
    s.add_device(&v(&["S/1", "a/b/d", "C"])).unwrap();
    assert_eq!(s.sql_select(q).unwrap().1, v(&["a/b/c", "0", "a/b/d", "0"]));
    s.export_device(&v(&["a/b/d", "IOR:01", "h", "7", "9"])).unwrap();
    assert_eq!(s.sql_select(q).unwrap().1, v(&["a/b/c", "0", "a/b/d", "1"]));
    // a refused write changes nothing, and the answer stays right
    assert!(s.export_device(&v(&["no/such/dev", "IOR:01", "h", "7", "9"])).is_err());
    assert_eq!(s.sql_select(q).unwrap().1, v(&["a/b/c", "0", "a/b/d", "1"]));
}

#[test]
fn a_select_calling_a_function_that_can_change_is_run_every_time() {
    let s = Store::in_memory();
    let q = "SELECT random()";
    let draws: std::collections::HashSet<String> = (0..5).map(|_| s.sql_select(q).unwrap().1.concat()).collect();
    assert_eq!(draws.len(), 5, "random() was answered from a kept result");
    for q in ["SELECT datetime('now')", "SELECT CURRENT_TIMESTAMP", "SELECT `random`()", "SELECT changes()"] {
        s.sql_select(q).unwrap();
    }
    assert_eq!(s.select.borrow().kept_results(), 0);
    s.sql_select("SELECT CONCAT(name, '/', IFNULL(alias, '-')), count(*) FROM device GROUP BY name").unwrap();
    assert_eq!(s.select.borrow().kept_results(), 1);
}

#[test]
fn a_kept_select_result_sees_another_process_writing_the_file() {
    let dir = std::env::temp_dir().join(format!("tango-db-kept-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut s = Store::open(&dir).unwrap();
    s.add_device(&v(&["S/1", "a/b/c", "C"])).unwrap();
    let q = "SELECT name FROM device WHERE class = 'C' ORDER BY name";
    assert_eq!(s.sql_select(q).unwrap().1, v(&["a/b/c"]));
    let other = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
    other.execute("INSERT INTO device (name, server, class) VALUES ('a/b/z', 'S/1', 'C')", []).unwrap();
    assert_eq!(s.sql_select(q).unwrap().1, v(&["a/b/c", "a/b/z"]));
    drop((s, other));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wildcards() {
    assert!(wildcard_match("*", "anything"));
    assert!(wildcard_match("sys/*", "SYS/database/2"));
    assert!(wildcard_match("*/database/*", "sys/database/2"));
    assert!(!wildcard_match("sys/*", "mid_sdp/elt/master"));
    assert!(wildcard_match("a*b*c", "aXXbYYc"));
    assert!(!wildcard_match("a*b*c", "aXXbYY"));
    assert!(wildcard_match("exact", "EXACT"));
}

#[test]
fn state_survives_a_restart_and_failed_changes_are_not_written() {
    let dir = std::env::temp_dir().join(format!("tango-store-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    {
        let mut s = Store::open(&dir).unwrap();
        s.add_device(&v(&["S/1", "a/b/c", "C"])).unwrap();
        s.put_device_property(&v(&["a/b/c", "1", "p", "2", "x", "y"])).unwrap();
        assert!(s.add_device(&v(&["S/1", "bad", "C"])).is_err());
    }
    let s = Store::open(&dir).unwrap();
    assert_eq!(s.device_list(&v(&["S/1", "C"])).unwrap(), v(&["a/b/c"]));
    assert_eq!(s.get_device_property(&v(&["a/b/c", "p"])).unwrap(), v(&["a/b/c", "1", "p", "2", "x", "y"]));
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A state directory of the JSON release is imported once and its file kept as a backup.
#[test]
fn a_json_state_dir_is_migrated_and_kept() {
    let dir = std::env::temp_dir().join(format!("tango-store-migrate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let json = r#"{"format": 1, "state": {
        "devices": {"a/b/c": {"name": "A/b/c", "server": "S/1", "class": "C", "alias": "abc", "exported": true,
                              "ior": "IOR:01", "version": "5", "host": "vm", "pid": 7},
                    "dserver/s/1": {"name": "dserver/S/1", "server": "S/1", "class": "DServer", "exported": false,
                                    "ior": "nada", "version": "0", "host": "nada", "pid": 0}},
        "device_props": {"a/b/c": {"p": {"name": "P", "values": ["x", "y"]}}},
        "class_props": {"c": {"q": {"name": "Q", "values": ["1"]}}},
        "free_props": {"ctrlsystem": {"services": {"name": "Services", "values": ["s"]}}},
        "device_attr_props": {"a/b/c": {"att": {"name": "Att", "props": {"label": {"name": "label", "values": ["L"]}}}}},
        "class_attr_props": {}}}"#;
    std::fs::write(dir.join("tango-db.json"), json).unwrap();
    for _ in 0..2 {
        let s = Store::open(&dir).unwrap();
        assert_eq!(s.import_device("abc").unwrap(), (vec![1, 7], v(&["a/b/c", "IOR:01", "5", "S/1", "vm", "C"])));
        assert_eq!(s.get_device_property(&v(&["a/b/c", "P"])).unwrap(), v(&["a/b/c", "1", "P", "2", "x", "y"]));
        assert_eq!(s.get_class_property(&v(&["C", "Q"])).unwrap(), v(&["C", "1", "Q", "1", "1"]));
        assert_eq!(s.get_property(&v(&["CtrlSystem", "Services"])).unwrap(), v(&["CtrlSystem", "1", "Services", "1", "s"]));
        assert_eq!(s.get_device_attribute_property2(&v(&["a/b/c", "Att"])).unwrap(), v(&["a/b/c", "1", "Att", "1", "label", "1", "L"]));
        assert_eq!(s.device_wide_list("*").unwrap().len(), 2);
        assert!(!dir.join("tango-db.json").exists());
        assert!(dir.join("tango-db.json.migrated").exists());
    }
    std::fs::write(dir.join("tango-db.json"), b"{not json").unwrap();
    assert!(Store::open(&dir).err().unwrap().contains("not valid"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Ten versions per property, oldest first; a deletion is a version without values.
#[test]
fn property_history_keeps_ten_versions() {
    let mut s = Store::in_memory();
    for i in 0..12 {
        s.put_device_property(&v(&["a/b/c", "1", "P", "1", &i.to_string()])).unwrap();
    }
    s.delete_device_property(&v(&["a/b/c", "P"])).unwrap();
    let h = s.device_property_hist(&v(&["a/b/c", "P"])).unwrap();
    assert_eq!(h.len(), 9 * 4 + 3, "{h:?}");
    assert_eq!((&h[0][..], &h[2][..], &h[3][..]), ("P", "1", "3"));
    assert_eq!(&h[h.len() - 3..][2], "0");
    s.put_device_attribute_property2(&v(&["a/b/c", "1", "att", "2", "label", "1", "L", "unit", "1", "m"])).unwrap();
    s.delete_device_attribute_property(&v(&["a/b/c", "att", "unit"])).unwrap();
    let h = s.device_attribute_property_hist(&v(&["a/b/c", "*", "*"])).unwrap();
    let date = h[2].clone();
    assert_eq!(h, v(&["att", "label", &date, "1", "L", "att", "unit", &date, "1", "m", "att", "unit", &date, "0"]));
    assert_eq!(s.class_property_hist(&v(&["C", "*"])).unwrap(), Vec::<String>::new());
}

#[test]
fn dates_look_like_the_real_ones() {
    let d = now_string();
    assert_eq!(d.len(), "25-11-2026 at 17:37:33".len(), "{d}");
    assert_eq!(&d[10..14], " at ");
}

/// The same registrations as in the C++ DataBaseds run (Debian tango-db 9.3.4, stored
/// procedures release 1.13, MariaDB) that produced these two replies.
#[test]
fn server_cache_matches_the_cpp_databaseds() {
    let mut s = Store::in_memory();
    s.add_device(&v(&["Cache/c", "cache/a/1", "ClassA"])).unwrap();
    s.add_device(&v(&["Cache/c", "cache/a/2", "ClassA"])).unwrap();
    s.add_device(&v(&["Cache/c", "cache/b/1", "ClassB"])).unwrap();
    s.put_device_property(&v(&["cache/a/1", "2", "P1", "2", "x", "y", "Q", "1", "1"])).unwrap();
    s.put_class_property(&v(&["ClassA", "1", "CP", "1", "c"])).unwrap();
    s.put_device_attribute_property2(&v(&[
        "cache/a/1",
        "2",
        "attr1",
        "2",
        "abs_change",
        "1",
        "1",
        "label",
        "1",
        "L",
        "attr2",
        "1",
        "unit",
        "1",
        "m",
    ]))
    .unwrap();
    s.put_class_attribute_property2(&v(&["ClassB", "1", "battr", "1", "max_value", "2", "10", "11"])).unwrap();
    s.put_device_property(&v(&["dserver/Cache/c", "1", "logging_level", "1", "DEBUG"])).unwrap();
    s.put_property(&v(&["CtrlSystem", "1", "Services", "1", "x/y"])).unwrap();
    let mut put = v(&["DServer", "1", "AllowedAccessCmd", "11"]);
    put.extend(v(&ALLOWED_ACCESS_CMD));
    s.put_class_property(&put).unwrap();
    assert_eq!(s.data_for_server_cache(&v(&["Cache/c", "vm"])).unwrap(), golden(false));
    assert_eq!(s.data_for_server_cache(&v(&["Cache/c", "vm%%9"])).unwrap(), golden(true));
    assert_eq!(s.data_for_server_cache(&v(&["Nope/n", "vm"])).unwrap(), v(&["dserver/Nope/n", "Not Found"]));
    // an access-control service is imported at the end
    s.add_device(&v(&["TangoAccessControl/1", "sys/access_control/1", "TangoAccessControl"])).unwrap();
    s.put_property(&v(&["CtrlSystem", "1", "Services", "1", "AccessControl/tango:sys/access_control/1"])).unwrap();
    let r = s.data_for_server_cache(&v(&["Cache/c", "vm"])).unwrap();
    assert_eq!(
        &r[r.len() - 8..],
        &v(&["sys/access_control/1", "nada", "0", "TangoAccessControl/1", "nada", "0", "0", "TangoAccessControl"])[..]
    );
}

/// What the C++ schema pre-loads for class DServer.
const ALLOWED_ACCESS_CMD: [&str; 11] = [
    "QueryClass",
    "QueryDevice",
    "EventSubscriptionChange",
    "DevPollStatus",
    "GetLoggingLevel",
    "GetLoggingTarget",
    "QueryWizardDevProperty",
    "QueryWizardClassProperty",
    "QuerySubDevice",
    "ZMQEventSubscriptionChange",
    "EventConfirmSubscription",
];

/// The two replies of the C++ DataBaseds: without pipes (host `vm`) and, for a Tango >= 9
/// client (`vm%%9`), with the `release 1.13` marker and a pipe-property section after each
/// class and device attribute-property section.
fn golden(pipes: bool) -> Vec<String> {
    let pipe = |o: &'static str| if pipes { vec![o, "0"] } else { vec![] };
    let mut g: Vec<&str> = if pipes { vec!["release 1.13"] } else { vec![] };
    g.extend(["dserver/Cache/c", "nada", "0", "Cache/c", "nada", "0", "0", "DServer"]);
    g.extend(["notifd/factory/vm", "Not Found", "dserver/Cache/c", "Not Found", "DServer", "1", "AllowedAccessCmd", "11"]);
    g.extend(ALLOWED_ACCESS_CMD);
    g.extend(["Default", "0", "dserver/Cache/c", "1", "logging_level", "1", "DEBUG", "Cache/c", "2"]);
    g.extend(["ClassA", "1", "CP", "1", "c", "ClassA", "0"]);
    g.extend(pipe("ClassA"));
    g.extend(["ClassA", "2", "cache/a/1", "cache/a/2", "cache/a/1", "2", "P1", "2", "x", "y", "Q", "1", "1"]);
    g.extend(["cache/a/1", "2", "attr1", "2", "abs_change", "1", "1", "label", "1", "L", "attr2", "1", "unit", "1", "m"]);
    g.extend(pipe("cache/a/1"));
    g.extend(["cache/a/2", "0", "cache/a/2", "0"]);
    g.extend(pipe("cache/a/2"));
    g.extend(["ClassB", "0", "ClassB", "1", "battr", "1", "max_value", "2", "10", "11"]);
    g.extend(pipe("ClassB"));
    g.extend(["ClassB", "1", "cache/b/1", "cache/b/1", "0", "cache/b/1", "0"]);
    g.extend(pipe("cache/b/1"));
    g.extend(["CtrlSystem", "1", "Services", "1", "x/y"]);
    v(&g)
}

#[test]
fn event_channels_are_kept() {
    let mut s = Store::in_memory();
    assert_eq!(reason(s.import_event("notifd/factory/vm")), "DB_DeviceNotDefined");
    s.export_event(&v(&["notifd/factory/vm", "IOR:01", "vm", "12", "4"])).unwrap();
    assert_eq!(s.import_event("notifd/factory/vm").unwrap(), (vec![1, 12], v(&["notifd/factory/vm", "IOR:01", "4", "vm"])));
    s.unexport_event("notifd/factory/vm").unwrap();
    assert_eq!(s.import_event("notifd/factory/vm").unwrap().0, vec![0, 12]);
    assert_eq!(reason(s.export_event(&v(&["x", "IOR:01", "vm", "pid", "4"]))), "DB_IncorrectArguments");
}
