//! Attribute configuration as cppTango reports and checks it: the defaults an attribute
//! nobody configured has, what `set_attribute_config` accepts and changes, and the checks a
//! written value must pass against it. Kept apart from the device runtime so the rules live
//! in one place (the runtime, persistence and tests all read them from here).

use crate::device::AttrInfo;
use crate::idl::*;

pub(crate) const NOT_SPECIFIED: &str = "Not specified";

/// cppTango's default display format per type.
fn default_display_format(t: CmdArgType) -> &'static str {
    use CmdArgType as T;
    match t {
        T::DevFloat | T::DevDouble => "%6.2f",
        T::DevString | T::DevEnum => "%s",
        T::DevBoolean | T::DevState | T::DevEncoded => NOT_SPECIFIED,
        _ => "%d",
    }
}

/// The configuration cppTango reports for an attribute nobody has configured.
pub(crate) fn initial_config(i: &AttrInfo) -> AttributeConfig_5 {
    let writable = i.writable;
    let ns = || NOT_SPECIFIED.to_string();
    AttributeConfig_5 {
        name: i.name.clone(),
        writable,
        data_format: i.format,
        data_type: i.data_type as i32,
        memorized: i.memorized,
        mem_init: writable != AttrWriteType::READ,
        max_dim_x: i.max_dim_x,
        max_dim_y: 0,
        description: i.description.clone().unwrap_or_else(|| "No description".into()),
        label: i.label.clone().unwrap_or_else(|| i.name.clone()),
        unit: i.unit.clone(),
        standard_unit: "No standard unit".into(),
        display_unit: "No display unit".into(),
        format: i.display_format.clone().unwrap_or_else(|| default_display_format(i.data_type).into()),
        min_value: i.min_value.clone().unwrap_or_else(ns),
        max_value: i.max_value.clone().unwrap_or_else(ns),
        writable_attr_name: if writable == AttrWriteType::READ { "None".into() } else { i.name.clone() },
        level: i.level,
        root_attr_name: ns(),
        enum_labels: i.enum_labels.clone(),
        att_alarm: AttributeAlarm {
            min_alarm: ns(),
            max_alarm: ns(),
            min_warning: ns(),
            max_warning: ns(),
            delta_t: ns(),
            delta_val: ns(),
            extensions: vec![],
        },
        event_prop: EventProperties {
            ch_event: ChangeEventProp {
                rel_change: i.rel_change.clone().unwrap_or_else(ns),
                abs_change: i.abs_change.clone().unwrap_or_else(ns),
                extensions: vec![],
            },
            per_event: PeriodicEventProp { period: i.event_period.clone().unwrap_or_else(|| "1000".into()), extensions: vec![] },
            arch_event: ArchiveEventProp {
                rel_change: i.archive_rel_change.clone().unwrap_or_else(ns),
                abs_change: i.archive_abs_change.clone().unwrap_or_else(ns),
                period: i.archive_period.clone().unwrap_or_else(ns),
                extensions: vec![],
            },
        },
        extensions: vec![],
        sys_extensions: vec![],
    }
}

pub(crate) fn state_config(name: &str, data_type: CmdArgType) -> AttributeConfig_5 {
    initial_config(&AttrInfo::new(name, data_type, AttrDataFormat::SCALAR, AttrWriteType::READ))
}

/// Refuse a configuration `set_attribute_config` cannot take (nothing is changed then).
pub(crate) fn validate(device: &str, c: &AttributeConfig_5) -> Result<(), DevFailed> {
    for (what, v) in [("min_value", &c.min_value), ("max_value", &c.max_value)] {
        if !v.is_empty() && v != NOT_SPECIFIED && v.trim().parse::<f64>().is_err() {
            return Err(DevFailed::new(
                        "API_AttrOptProp",
                        format!(
                            "Device {}-> Attribute : {}\nThe property {what} is defined in an unsupported format: {v:?} (expected a number or \"{NOT_SPECIFIED}\")",
                            device, c.name
                        ),
                        "Attribute::set_properties",
                    ));
        }
    }
    Ok(())
}

/// Take the user-settable properties of `c` into `cur`; type, format and name stay.
pub(crate) fn apply(cur: &mut AttributeConfig_5, c: AttributeConfig_5, attr_name: &str) {
    // Only the user-settable properties change; type, format and name stay.
    let keep_or = |new: String, default: &str| if new.is_empty() || new == NOT_SPECIFIED { default.to_string() } else { new };
    cur.description = c.description;
    cur.label = keep_or(c.label, attr_name);
    cur.unit = c.unit;
    cur.standard_unit = c.standard_unit;
    cur.display_unit = c.display_unit;
    cur.format = c.format;
    cur.min_value = keep_or(c.min_value, NOT_SPECIFIED);
    cur.max_value = keep_or(c.max_value, NOT_SPECIFIED);
    cur.att_alarm = c.att_alarm;
    cur.event_prop = c.event_prop;
    cur.extensions = c.extensions;
}

fn outside_limit(desc: String) -> DevFailed {
    DevFailed::new("API_WAttrOutsideLimit", desc, "WAttribute::check_written_value")
}

/// cppTango refuses NaN and infinities in written floating-point values.
pub(crate) fn check_finite(name: &str, data: &AttrData) -> Result<(), DevFailed> {
    let bad = match data {
        AttrData::Float(v) => v.iter().position(|x| !x.is_finite()),
        AttrData::Double(v) => v.iter().position(|x| !x.is_finite()),
        _ => None,
    };
    match bad {
        Some(i) => Err(outside_limit(format!("Set value for attribute {name} is a NaN or INF value (at least element {i})"))),
        None => Ok(()),
    }
}

pub(crate) fn check_enum(name: &str, n_labels: usize, data: &AttrData) -> Result<(), DevFailed> {
    if let AttrData::Short(v) = data {
        if let Some(i) = v.iter().position(|&x| x < 0 || x as usize >= n_labels) {
            // (sic: cppTango's spelling)
            return Err(outside_limit(format!(
                "Set value for attribute {name} is negative or above the maximun authorized ({n_labels}) for at least element {i}"
            )));
        }
    }
    Ok(())
}

pub(crate) fn check_limits(cfg: &AttributeConfig_5, data: &AttrData) -> Result<(), DevFailed> {
    let limit = |s: &str| if s == NOT_SPECIFIED { None } else { s.trim().parse::<f64>().ok() };
    let (min, max) = (limit(&cfg.min_value), limit(&cfg.max_value));
    if min.is_none() && max.is_none() {
        return Ok(());
    }
    for x in data.to_f64s().unwrap_or_default() {
        if let Some(m) = min.filter(|&m| x < m) {
            return Err(DevFailed::new(
                "API_WAttrOutsideLimit",
                format!("Set value for attribute {} is below the minimum authorized ({m}): {x}", cfg.name),
                "WAttribute::check_written_value",
            ));
        }
        if let Some(m) = max.filter(|&m| x > m) {
            return Err(DevFailed::new(
                "API_WAttrOutsideLimit",
                format!("Set value for attribute {} is above the maximum authorized ({m}): {x}", cfg.name),
                "WAttribute::check_written_value",
            ));
        }
    }
    Ok(())
}

/// A user-settable property of an attribute's configuration, by its Tango database name.
type Field = (&'static str, fn(&AttributeConfig_5) -> &String, fn(&mut AttributeConfig_5) -> &mut String);

/// The properties `set_attribute_config` keeps in the database, with the Tango property
/// names cppTango uses for them (`DbPutDeviceAttributeProperty2`).
const FIELDS: &[Field] = &[
    ("label", |c| &c.label, |c| &mut c.label),
    ("description", |c| &c.description, |c| &mut c.description),
    ("unit", |c| &c.unit, |c| &mut c.unit),
    ("standard_unit", |c| &c.standard_unit, |c| &mut c.standard_unit),
    ("display_unit", |c| &c.display_unit, |c| &mut c.display_unit),
    ("format", |c| &c.format, |c| &mut c.format),
    ("min_value", |c| &c.min_value, |c| &mut c.min_value),
    ("max_value", |c| &c.max_value, |c| &mut c.max_value),
    ("min_alarm", |c| &c.att_alarm.min_alarm, |c| &mut c.att_alarm.min_alarm),
    ("max_alarm", |c| &c.att_alarm.max_alarm, |c| &mut c.att_alarm.max_alarm),
    ("min_warning", |c| &c.att_alarm.min_warning, |c| &mut c.att_alarm.min_warning),
    ("max_warning", |c| &c.att_alarm.max_warning, |c| &mut c.att_alarm.max_warning),
    ("delta_t", |c| &c.att_alarm.delta_t, |c| &mut c.att_alarm.delta_t),
    ("delta_val", |c| &c.att_alarm.delta_val, |c| &mut c.att_alarm.delta_val),
    ("rel_change", |c| &c.event_prop.ch_event.rel_change, |c| &mut c.event_prop.ch_event.rel_change),
    ("abs_change", |c| &c.event_prop.ch_event.abs_change, |c| &mut c.event_prop.ch_event.abs_change),
    ("event_period", |c| &c.event_prop.per_event.period, |c| &mut c.event_prop.per_event.period),
    ("archive_rel_change", |c| &c.event_prop.arch_event.rel_change, |c| &mut c.event_prop.arch_event.rel_change),
    ("archive_abs_change", |c| &c.event_prop.arch_event.abs_change, |c| &mut c.event_prop.arch_event.abs_change),
    ("archive_period", |c| &c.event_prop.arch_event.period, |c| &mut c.event_prop.arch_event.period),
];

/// Apply attribute properties read from the database (unknown names are ignored: the
/// database may hold properties of other tools).
pub(crate) fn apply_properties(cfg: &mut AttributeConfig_5, props: &crate::dbclient::Properties) {
    for (name, values) in props {
        if let Some((_, _, set)) = FIELDS.iter().find(|f| f.0.eq_ignore_ascii_case(name)) {
            *set(cfg) = values.join(",");
        }
    }
}

/// What the database must hold for `cur`: the properties that differ from `default` (to
/// put) and those back at their default (to delete).
pub(crate) fn diff_properties(cur: &AttributeConfig_5, default: &AttributeConfig_5) -> (Vec<(String, Vec<String>)>, Vec<String>) {
    let (mut put, mut delete) = (Vec::new(), Vec::new());
    for (name, get, _) in FIELDS {
        if get(cur) == get(default) {
            delete.push(name.to_string());
        } else {
            put.push((name.to_string(), get(cur).split(',').map(|s| s.trim().to_string()).collect()));
        }
    }
    (put, delete)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::AttrInfo;

    #[test]
    fn changed_properties_are_put_and_defaults_deleted_and_read_back() {
        let info = AttrInfo::new("x", CmdArgType::DevDouble, AttrDataFormat::SCALAR, AttrWriteType::READ_WRITE);
        let default = initial_config(&info);
        let mut cur = default.clone();
        cur.unit = "mm".into();
        cur.event_prop.ch_event.abs_change = "-1,1".into();
        let (put, delete) = diff_properties(&cur, &default);
        assert_eq!(put, vec![("unit".to_string(), vec!["mm".to_string()]), ("abs_change".into(), vec!["-1".into(), "1".into()])]);
        assert_eq!(delete.len(), FIELDS.len() - 2);
        let mut back = default.clone();
        apply_properties(&mut back, &put.into_iter().collect());
        assert_eq!(back, cur);
    }
}
