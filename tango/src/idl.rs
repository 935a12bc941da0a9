#![allow(non_camel_case_types)]
//! The Tango IDL (module `Tango`, IDL v6) types a Device_5 server exchanges, with their CDR
//! encodings. Names follow the IDL so they can be checked against it; the enum ordinals are
//! the wire values.

use crate::cdr::{CdrError, CdrReader, CdrWriter, Decode, Encode, Result};
use crate::{cdr_enum, cdr_struct};

/// The IDL version we implement: `_is_a` answers true up to `Device_5`, IORs name
/// `IDL:Tango/Device_5:1.0`, the database records it at export.
pub const IDL_VERSION: i32 = 5;

cdr_enum! {
    /// Device state (`Tango::DevState`).
    pub enum DevState {
        ON = 0, OFF = 1, CLOSE = 2, OPEN = 3, INSERT = 4, EXTRACT = 5, MOVING = 6, STANDBY = 7,
        FAULT = 8, INIT = 9, RUNNING = 10, ALARM = 11, DISABLE = 12, UNKNOWN = 13,
    }
}

impl std::fmt::Display for DevState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

cdr_enum! {
    pub enum AttrQuality { ATTR_VALID = 0, ATTR_INVALID = 1, ATTR_ALARM = 2, ATTR_CHANGING = 3, ATTR_WARNING = 4 }
}
cdr_enum! {
    pub enum AttrWriteType { READ = 0, READ_WITH_WRITE = 1, WRITE = 2, READ_WRITE = 3, WT_UNKNOWN = 4 }
}
cdr_enum! {
    pub enum AttrDataFormat { SCALAR = 0, SPECTRUM = 1, IMAGE = 2, FMT_UNKNOWN = 3 }
}
cdr_enum! {
    pub enum DevSource { DEV = 0, CACHE = 1, CACHE_DEV = 2 }
}
cdr_enum! {
    pub enum ErrSeverity { WARN = 0, ERR = 1, PANIC = 2 }
}
cdr_enum! {
    pub enum DispLevel { OPERATOR = 0, EXPERT = 1, DL_UNKNOWN = 2 }
}

macro_rules! default_enum {
    ($($t:ident = $v:ident),*) => { $(impl Default for $t { fn default() -> Self { $t::$v } })* };
}
default_enum!(
    DevState = UNKNOWN,
    AttrQuality = ATTR_VALID,
    AttrWriteType = READ,
    AttrDataFormat = SCALAR,
    DevSource = DEV,
    ErrSeverity = ERR,
    DispLevel = OPERATOR
);

/// `Tango::CmdArgType`: the type numbers used in command info and `data_type`.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum CmdArgType {
    DevVoid = 0,
    DevBoolean = 1,
    DevShort = 2,
    DevLong = 3,
    DevFloat = 4,
    DevDouble = 5,
    DevUShort = 6,
    DevULong = 7,
    DevString = 8,
    DevVarCharArray = 9,
    DevVarShortArray = 10,
    DevVarLongArray = 11,
    DevVarFloatArray = 12,
    DevVarDoubleArray = 13,
    DevVarUShortArray = 14,
    DevVarULongArray = 15,
    DevVarStringArray = 16,
    DevVarLongStringArray = 17,
    DevVarDoubleStringArray = 18,
    DevState = 19,
    ConstDevString = 20,
    DevVarBooleanArray = 21,
    DevUChar = 22,
    DevLong64 = 23,
    DevULong64 = 24,
    DevVarLong64Array = 25,
    DevVarULong64Array = 26,
    DevEncoded = 28,
    DevEnum = 29,
    DevVarStateArray = 31,
}

cdr_struct! {
    /// One error of a `DevFailed`, innermost first.
    pub struct DevError { pub reason: String, pub severity: ErrSeverity, pub desc: String, pub origin: String }
}

/// `Tango::DevFailed`: what a device or the runtime raises.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DevFailed {
    pub errors: Vec<DevError>,
}

pub const DEV_FAILED_ID: &str = "IDL:Tango/DevFailed:1.0";

impl DevFailed {
    /// One error with severity ERR.
    pub fn new(reason: impl Into<String>, desc: impl Into<String>, origin: impl Into<String>) -> Self {
        DevFailed { errors: vec![DevError { reason: reason.into(), severity: ErrSeverity::ERR, desc: desc.into(), origin: origin.into() }] }
    }

    /// The innermost (first) reason.
    pub fn reason(&self) -> &str {
        self.errors.first().map(|e| e.reason.as_str()).unwrap_or("")
    }
}

impl std::fmt::Display for DevFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{}: {}", e.reason, e.desc)?;
        }
        Ok(())
    }
}

impl std::error::Error for DevFailed {}

cdr_struct! { pub struct TimeVal { pub tv_sec: i32, pub tv_usec: i32, pub tv_nsec: i32 } }

impl TimeVal {
    pub fn now() -> TimeVal {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        TimeVal { tv_sec: d.as_secs() as i32, tv_usec: d.subsec_micros() as i32, tv_nsec: 0 }
    }
}

cdr_struct! { pub struct AttributeDim { pub dim_x: i32, pub dim_y: i32 } }

cdr_struct! {
    pub struct DevEncoded { pub encoded_format: String, pub encoded_data: Vec<u8> }
}

/// `AttrValUnion`: the value of an attribute, one arm per element type.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum AttrData {
    Bool(Vec<bool>),
    Short(Vec<i16>),
    Long(Vec<i32>),
    Long64(Vec<i64>),
    Float(Vec<f32>),
    Double(Vec<f64>),
    UChar(Vec<u8>),
    UShort(Vec<u16>),
    ULong(Vec<u32>),
    ULong64(Vec<u64>),
    String(Vec<String>),
    State(Vec<DevState>),
    DeviceState(DevState),
    Encoded(Vec<DevEncoded>),
    #[default]
    NoData,
}

impl AttrData {
    pub fn discriminant(&self) -> u32 {
        match self {
            AttrData::Bool(_) => 0,
            AttrData::Short(_) => 1,
            AttrData::Long(_) => 2,
            AttrData::Long64(_) => 3,
            AttrData::Float(_) => 4,
            AttrData::Double(_) => 5,
            AttrData::UChar(_) => 6,
            AttrData::UShort(_) => 7,
            AttrData::ULong(_) => 8,
            AttrData::ULong64(_) => 9,
            AttrData::String(_) => 10,
            AttrData::State(_) => 11,
            AttrData::DeviceState(_) => 12,
            AttrData::Encoded(_) => 13,
            AttrData::NoData => 14,
        }
    }

    /// Number of elements carried.
    pub fn len(&self) -> usize {
        match self {
            AttrData::Bool(v) => v.len(),
            AttrData::Short(v) => v.len(),
            AttrData::Long(v) => v.len(),
            AttrData::Long64(v) => v.len(),
            AttrData::Float(v) => v.len(),
            AttrData::Double(v) => v.len(),
            AttrData::UChar(v) => v.len(),
            AttrData::UShort(v) => v.len(),
            AttrData::ULong(v) => v.len(),
            AttrData::ULong64(v) => v.len(),
            AttrData::String(v) => v.len(),
            AttrData::State(v) => v.len(),
            AttrData::DeviceState(_) => 1,
            AttrData::Encoded(v) => v.len(),
            AttrData::NoData => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Append `other` (same arm) to `self`: read value followed by set point.
    pub fn extend(&mut self, other: AttrData) {
        match (self, other) {
            (AttrData::Bool(a), AttrData::Bool(b)) => a.extend(b),
            (AttrData::Short(a), AttrData::Short(b)) => a.extend(b),
            (AttrData::Long(a), AttrData::Long(b)) => a.extend(b),
            (AttrData::Long64(a), AttrData::Long64(b)) => a.extend(b),
            (AttrData::Float(a), AttrData::Float(b)) => a.extend(b),
            (AttrData::Double(a), AttrData::Double(b)) => a.extend(b),
            (AttrData::UChar(a), AttrData::UChar(b)) => a.extend(b),
            (AttrData::UShort(a), AttrData::UShort(b)) => a.extend(b),
            (AttrData::ULong(a), AttrData::ULong(b)) => a.extend(b),
            (AttrData::ULong64(a), AttrData::ULong64(b)) => a.extend(b),
            (AttrData::String(a), AttrData::String(b)) => a.extend(b),
            (AttrData::State(a), AttrData::State(b)) => a.extend(b),
            (AttrData::Encoded(a), AttrData::Encoded(b)) => a.extend(b),
            _ => {}
        }
    }

    /// The elements as numbers, for numeric arms (limit checks, change thresholds).
    pub fn to_f64s(&self) -> Option<Vec<f64>> {
        Some(match self {
            AttrData::Short(v) => v.iter().map(|&x| x as f64).collect(),
            AttrData::Long(v) => v.iter().map(|&x| x as f64).collect(),
            AttrData::Long64(v) => v.iter().map(|&x| x as f64).collect(),
            AttrData::Float(v) => v.iter().map(|&x| x as f64).collect(),
            AttrData::Double(v) => v.clone(),
            AttrData::UChar(v) => v.iter().map(|&x| x as f64).collect(),
            AttrData::UShort(v) => v.iter().map(|&x| x as f64).collect(),
            AttrData::ULong(v) => v.iter().map(|&x| x as f64).collect(),
            AttrData::ULong64(v) => v.iter().map(|&x| x as f64).collect(),
            _ => return None,
        })
    }

    /// Keep the first `n` elements.
    pub fn truncate(&mut self, n: usize) {
        match self {
            AttrData::Bool(v) => v.truncate(n),
            AttrData::Short(v) => v.truncate(n),
            AttrData::Long(v) => v.truncate(n),
            AttrData::Long64(v) => v.truncate(n),
            AttrData::Float(v) => v.truncate(n),
            AttrData::Double(v) => v.truncate(n),
            AttrData::UChar(v) => v.truncate(n),
            AttrData::UShort(v) => v.truncate(n),
            AttrData::ULong(v) => v.truncate(n),
            AttrData::ULong64(v) => v.truncate(n),
            AttrData::String(v) => v.truncate(n),
            AttrData::State(v) => v.truncate(n),
            AttrData::Encoded(v) => v.truncate(n),
            AttrData::DeviceState(_) | AttrData::NoData => {}
        }
    }
}

impl Encode for AttrData {
    fn encode(&self, w: &mut CdrWriter) {
        w.write_u32(self.discriminant());
        match self {
            AttrData::Bool(v) => w.write_seq(v),
            AttrData::Short(v) => w.write_seq(v),
            AttrData::Long(v) => w.write_seq(v),
            AttrData::Long64(v) => w.write_seq(v),
            AttrData::Float(v) => w.write_seq(v),
            AttrData::Double(v) => w.write_seq(v),
            AttrData::UChar(v) => w.write_octets(v),
            AttrData::UShort(v) => w.write_seq(v),
            AttrData::ULong(v) => w.write_seq(v),
            AttrData::ULong64(v) => w.write_seq(v),
            AttrData::String(v) => w.write_seq(v),
            AttrData::State(v) => w.write_seq(v),
            AttrData::DeviceState(s) => s.encode(w),
            AttrData::Encoded(v) => w.write_seq(v),
            AttrData::NoData => w.write_bool(true),
        }
    }
}

impl Decode for AttrData {
    fn decode(r: &mut CdrReader<'_>) -> Result<Self> {
        let d = r.read_u32()?;
        Ok(match d {
            0 => AttrData::Bool(r.read_seq()?),
            1 => AttrData::Short(r.read_seq()?),
            2 => AttrData::Long(r.read_seq()?),
            3 => AttrData::Long64(r.read_seq()?),
            4 => AttrData::Float(r.read_seq()?),
            5 => AttrData::Double(r.read_seq()?),
            6 => AttrData::UChar(r.read_octets()?.to_vec()),
            7 => AttrData::UShort(r.read_seq()?),
            8 => AttrData::ULong(r.read_seq()?),
            9 => AttrData::ULong64(r.read_seq()?),
            10 => AttrData::String(r.read_seq()?),
            11 => AttrData::State(r.read_seq()?),
            12 => AttrData::DeviceState(r.read()?),
            13 => AttrData::Encoded(r.read_seq()?),
            14 => {
                r.read_u8()?;
                AttrData::NoData
            }
            v => return Err(CdrError::BadDiscriminant { what: "AttrValUnion", value: v as i64 }),
        })
    }
}

cdr_struct! {
    pub struct AttributeValue_5 {
        pub value: AttrData, pub quality: AttrQuality, pub data_format: AttrDataFormat, pub data_type: i32,
        pub time: TimeVal, pub name: String, pub r_dim: AttributeDim, pub w_dim: AttributeDim,
        pub err_list: Vec<DevError>,
    }
}

cdr_struct! {
    pub struct AttributeValue_4 {
        pub value: AttrData, pub quality: AttrQuality, pub data_format: AttrDataFormat,
        pub time: TimeVal, pub name: String, pub r_dim: AttributeDim, pub w_dim: AttributeDim,
        pub err_list: Vec<DevError>,
    }
}

/// An IDL 5 value as IDL 4 clients get it (without `data_type`).
impl From<AttributeValue_5> for AttributeValue_4 {
    fn from(v: AttributeValue_5) -> Self {
        AttributeValue_4 {
            value: v.value,
            quality: v.quality,
            data_format: v.data_format,
            time: v.time,
            name: v.name,
            r_dim: v.r_dim,
            w_dim: v.w_dim,
            err_list: v.err_list,
        }
    }
}

/// IDL 3 `AttributeValue_3` (value is an `any`), for old clients' `read_attributes_3`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeValue_3 {
    pub value: crate::any::CmdValue,
    pub quality: AttrQuality,
    pub time: TimeVal,
    pub name: String,
    pub r_dim: AttributeDim,
    pub w_dim: AttributeDim,
    pub err_list: Vec<DevError>,
}

impl Encode for AttributeValue_3 {
    fn encode(&self, w: &mut CdrWriter) {
        crate::any::encode_any(w, &self.value);
        self.quality.encode(w);
        self.time.encode(w);
        self.name.encode(w);
        self.r_dim.encode(w);
        self.w_dim.encode(w);
        self.err_list.encode(w);
    }
}

cdr_struct! {
    pub struct AttributeAlarm {
        pub min_alarm: String, pub max_alarm: String, pub min_warning: String, pub max_warning: String,
        pub delta_t: String, pub delta_val: String, pub extensions: Vec<String>,
    }
}
cdr_struct! { pub struct ChangeEventProp { pub rel_change: String, pub abs_change: String, pub extensions: Vec<String> } }
cdr_struct! { pub struct PeriodicEventProp { pub period: String, pub extensions: Vec<String> } }
cdr_struct! {
    pub struct ArchiveEventProp { pub rel_change: String, pub abs_change: String, pub period: String, pub extensions: Vec<String> }
}
cdr_struct! {
    pub struct EventProperties { pub ch_event: ChangeEventProp, pub per_event: PeriodicEventProp, pub arch_event: ArchiveEventProp }
}

cdr_struct! {
    pub struct AttributeConfig_5 {
        pub name: String, pub writable: AttrWriteType, pub data_format: AttrDataFormat, pub data_type: i32,
        pub memorized: bool, pub mem_init: bool, pub max_dim_x: i32, pub max_dim_y: i32,
        pub description: String, pub label: String, pub unit: String, pub standard_unit: String,
        pub display_unit: String, pub format: String, pub min_value: String, pub max_value: String,
        pub writable_attr_name: String, pub level: DispLevel, pub root_attr_name: String,
        pub enum_labels: Vec<String>, pub att_alarm: AttributeAlarm, pub event_prop: EventProperties,
        pub extensions: Vec<String>, pub sys_extensions: Vec<String>,
    }
}

cdr_struct! {
    /// IDL 3 attribute configuration (old clients' `get_attribute_config_3`).
    pub struct AttributeConfig_3 {
        pub name: String, pub writable: AttrWriteType, pub data_format: AttrDataFormat, pub data_type: i32,
        pub max_dim_x: i32, pub max_dim_y: i32, pub description: String, pub label: String, pub unit: String,
        pub standard_unit: String, pub display_unit: String, pub format: String, pub min_value: String,
        pub max_value: String, pub writable_attr_name: String, pub level: DispLevel,
        pub att_alarm: AttributeAlarm, pub event_prop: EventProperties,
        pub extensions: Vec<String>, pub sys_extensions: Vec<String>,
    }
}

impl From<&AttributeConfig_5> for AttributeConfig_3 {
    fn from(c: &AttributeConfig_5) -> Self {
        AttributeConfig_3 {
            name: c.name.clone(),
            writable: c.writable,
            data_format: c.data_format,
            data_type: c.data_type,
            max_dim_x: c.max_dim_x,
            max_dim_y: c.max_dim_y,
            description: c.description.clone(),
            label: c.label.clone(),
            unit: c.unit.clone(),
            standard_unit: c.standard_unit.clone(),
            display_unit: c.display_unit.clone(),
            format: c.format.clone(),
            min_value: c.min_value.clone(),
            max_value: c.max_value.clone(),
            writable_attr_name: c.writable_attr_name.clone(),
            level: c.level,
            att_alarm: c.att_alarm.clone(),
            event_prop: c.event_prop.clone(),
            extensions: c.extensions.clone(),
            sys_extensions: c.sys_extensions.clone(),
        }
    }
}

cdr_struct! {
    pub struct DevCmdInfo_2 {
        pub cmd_name: String, pub level: DispLevel, pub cmd_tag: i32, pub in_type: i32, pub out_type: i32,
        pub in_type_desc: String, pub out_type_desc: String,
    }
}
cdr_struct! {
    pub struct DevCmdInfo {
        pub cmd_name: String, pub cmd_tag: i32, pub in_type: i32, pub out_type: i32,
        pub in_type_desc: String, pub out_type_desc: String,
    }
}

impl From<&DevCmdInfo_2> for DevCmdInfo {
    fn from(c: &DevCmdInfo_2) -> Self {
        DevCmdInfo {
            cmd_name: c.cmd_name.clone(),
            cmd_tag: c.cmd_tag,
            in_type: c.in_type,
            out_type: c.out_type,
            in_type_desc: c.in_type_desc.clone(),
            out_type_desc: c.out_type_desc.clone(),
        }
    }
}

cdr_struct! {
    pub struct DevInfo { pub dev_class: String, pub server_id: String, pub server_host: String, pub server_version: i32, pub doc_url: String }
}
cdr_struct! {
    pub struct DevInfo_3 {
        pub dev_class: String, pub server_id: String, pub server_host: String, pub server_version: i32,
        pub doc_url: String, pub dev_type: String,
    }
}

/// `ClntIdent`: who is calling. Only decoded to be skipped correctly and for the black box.
#[derive(Debug, Clone, PartialEq)]
pub enum ClntIdent {
    Cpp(u32),
    Java { main_class: String, uuid: [u64; 2] },
    Cpp6 { pid: u32, trace_parent: String, trace_state: String },
    Java6 { main_class: String, uuid: [u64; 2], trace_parent: String, trace_state: String },
}

impl ClntIdent {
    pub fn describe(&self) -> String {
        match self {
            ClntIdent::Cpp(pid) | ClntIdent::Cpp6 { pid, .. } => format!("CPP/Python client with PID {pid}"),
            ClntIdent::Java { main_class, .. } | ClntIdent::Java6 { main_class, .. } => format!("Java client with main class {main_class}"),
        }
    }
}

fn read_trace(r: &mut CdrReader<'_>) -> Result<(String, String)> {
    let fmt = r.read_u32()?;
    if fmt != 0 {
        return Err(CdrError::BadDiscriminant { what: "TraceContext", value: fmt as i64 });
    }
    Ok((r.read_string()?, r.read_string()?))
}

impl Decode for ClntIdent {
    fn decode(r: &mut CdrReader<'_>) -> Result<Self> {
        let d = r.read_u32()?;
        Ok(match d {
            0 => ClntIdent::Cpp(r.read_u32()?),
            1 => ClntIdent::Java { main_class: r.read_string()?, uuid: [r.read_u64()?, r.read_u64()?] },
            2 => {
                let pid = r.read_u32()?;
                let (trace_parent, trace_state) = read_trace(r)?;
                ClntIdent::Cpp6 { pid, trace_parent, trace_state }
            }
            3 => {
                let main_class = r.read_string()?;
                let uuid = [r.read_u64()?, r.read_u64()?];
                let (trace_parent, trace_state) = read_trace(r)?;
                ClntIdent::Java6 { main_class, uuid, trace_parent, trace_state }
            }
            v => return Err(CdrError::BadDiscriminant { what: "ClntIdent", value: v as i64 }),
        })
    }
}

impl Encode for ClntIdent {
    fn encode(&self, w: &mut CdrWriter) {
        match self {
            ClntIdent::Cpp(pid) => {
                w.write_u32(0);
                w.write_u32(*pid)
            }
            ClntIdent::Java { main_class, uuid } => {
                w.write_u32(1);
                w.write_string(main_class);
                w.write_u64(uuid[0]);
                w.write_u64(uuid[1]);
            }
            ClntIdent::Cpp6 { pid, trace_parent, trace_state } => {
                w.write_u32(2);
                w.write_u32(*pid);
                w.write_u32(0);
                w.write_string(trace_parent);
                w.write_string(trace_state);
            }
            ClntIdent::Java6 { main_class, uuid, trace_parent, trace_state } => {
                w.write_u32(3);
                w.write_string(main_class);
                w.write_u64(uuid[0]);
                w.write_u64(uuid[1]);
                w.write_u32(0);
                w.write_string(trace_parent);
                w.write_string(trace_state);
            }
        }
    }
}

/// Encode a `DevFailed` user-exception body.
pub fn encode_dev_failed(w: &mut CdrWriter, e: &DevFailed) {
    w.write_string(DEV_FAILED_ID);
    w.write_seq(&e.errors);
}
