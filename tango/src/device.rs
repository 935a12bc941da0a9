//! The device API: a device is a plain Rust type plus a declarative class description.
//!
//! ```ignore
//! impl Device for Motor {
//!     fn class() -> DeviceClass<Self> {
//!         DeviceClass::new("Motor")
//!             .attribute(Attr::new("position").unit("mm").read(|d: &Motor| d.pos).write(|d: &mut Motor, v: f64| d.go(v)))
//!             .command(Cmd::new("Stop").run(|d: &mut Motor, ()| d.stop()))
//!     }
//!     fn state(&self) -> DevState { self.state }
//! }
//! ```
//!
//! Values cross the boundary through the [`AttrValue`] and [`CmdArg`] traits, implemented for
//! Rust's numbers, `String`, `bool`, [`DevState`], `Vec`s of those and enums declared with
//! [`tango_enum!`](crate::tango_enum). The runtime turns them into Tango's wire types; device code
//! never sees CDR.

use crate::any::CmdValue;
use crate::idl::{AttrData, AttrDataFormat, AttrWriteType, CmdArgType, DevEncoded, DevFailed, DevState, DispLevel};

/// What a device type provides. State and Status come for free: override [`Device::state`] and
/// [`Device::status`] to report your own.
pub trait Device: Send + 'static {
    /// The class description: attributes and commands.
    fn class() -> DeviceClass<Self>
    where
        Self: Sized;

    fn state(&self) -> DevState {
        DevState::UNKNOWN
    }

    fn status(&self) -> String {
        format!("The device is in {} state.", self.state())
    }

    /// Where the device queues events it pushes itself (see [`Outbox`]). The runtime drains
    /// it after every request.
    fn outbox(&mut self) -> Option<&mut Outbox> {
        None
    }
}

/// Events a device pushes from its own code (PyTango's `push_change_event` & co.).
///
/// Embed one in the device, return it from [`Device::outbox`], and push from command or
/// write handlers; the runtime publishes the queued events when the request is done.
#[derive(Default, Debug)]
pub struct Outbox {
    pub(crate) pending: Vec<Pushed>,
}

/// One queued event.
#[derive(Debug)]
pub struct Pushed {
    pub attr: String,
    pub kind: crate::events::EventKind,
    pub value: Result<AttrData, DevFailed>,
}

impl Outbox {
    pub fn push_change<T: AttrValue>(&mut self, attr: &str, v: T) {
        self.pending.push(Pushed { attr: attr.into(), kind: crate::events::EventKind::Change, value: Ok(v.into_data()) });
    }
    pub fn push_archive<T: AttrValue>(&mut self, attr: &str, v: T) {
        self.pending.push(Pushed { attr: attr.into(), kind: crate::events::EventKind::Archive, value: Ok(v.into_data()) });
    }
    pub fn push_user<T: AttrValue>(&mut self, attr: &str, v: T) {
        self.pending.push(Pushed { attr: attr.into(), kind: crate::events::EventKind::User, value: Ok(v.into_data()) });
    }
    /// An error event (the client's callback gets `err = True` with these errors).
    pub fn push_error(&mut self, attr: &str, kind: crate::events::EventKind, e: DevFailed) {
        self.pending.push(Pushed { attr: attr.into(), kind, value: Err(e) });
    }
    pub fn take(&mut self) -> Vec<Pushed> {
        std::mem::take(&mut self.pending)
    }
}

/// A value type an attribute can have.
pub trait AttrValue: Sized + 'static {
    const DATA_TYPE: CmdArgType;
    const FORMAT: AttrDataFormat;
    /// Labels of a DevEnum, in ordinal order.
    fn enum_labels() -> Vec<String> {
        Vec::new()
    }
    fn into_data(self) -> AttrData;
    /// Convert written data; `Err` carries a description of what was wrong.
    fn from_data(d: AttrData) -> Result<Self, String>;
}

/// Element types of scalar and spectrum attributes.
pub trait AttrElem: Sized + Clone + 'static {
    const DATA_TYPE: CmdArgType;
    fn wrap(v: Vec<Self>) -> AttrData;
    fn unwrap(d: AttrData) -> Option<Vec<Self>>;
}

macro_rules! attr_elem {
    ($t:ty, $arm:ident, $dt:ident) => {
        impl AttrElem for $t {
            const DATA_TYPE: CmdArgType = CmdArgType::$dt;
            fn wrap(v: Vec<Self>) -> AttrData {
                AttrData::$arm(v)
            }
            fn unwrap(d: AttrData) -> Option<Vec<Self>> {
                match d {
                    AttrData::$arm(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}

attr_elem!(bool, Bool, DevBoolean);
attr_elem!(i16, Short, DevShort);
attr_elem!(i32, Long, DevLong);
attr_elem!(i64, Long64, DevLong64);
attr_elem!(f32, Float, DevFloat);
attr_elem!(f64, Double, DevDouble);
attr_elem!(u8, UChar, DevUChar);
attr_elem!(u16, UShort, DevUShort);
attr_elem!(u32, ULong, DevULong);
attr_elem!(u64, ULong64, DevULong64);
attr_elem!(String, String, DevString);
attr_elem!(DevState, State, DevState);
attr_elem!(DevEncoded, Encoded, DevEncoded);

fn type_mismatch(expected: CmdArgType, got: &AttrData) -> String {
    format!("expected {expected:?} data, got union arm {}", got.discriminant())
}

impl<T: AttrElem> AttrValue for T {
    const DATA_TYPE: CmdArgType = T::DATA_TYPE;
    const FORMAT: AttrDataFormat = AttrDataFormat::SCALAR;
    fn into_data(self) -> AttrData {
        T::wrap(vec![self])
    }
    fn from_data(d: AttrData) -> Result<Self, String> {
        let msg = type_mismatch(T::DATA_TYPE, &d);
        let v = T::unwrap(d).ok_or(msg)?;
        match <[T; 1]>::try_from(v) {
            Ok([x]) => Ok(x),
            Err(v) => Err(format!("a scalar attribute takes exactly one value, got {}", v.len())),
        }
    }
}

impl<T: AttrElem> AttrValue for Vec<T> {
    const DATA_TYPE: CmdArgType = T::DATA_TYPE;
    const FORMAT: AttrDataFormat = AttrDataFormat::SPECTRUM;
    fn into_data(self) -> AttrData {
        T::wrap(self)
    }
    fn from_data(d: AttrData) -> Result<Self, String> {
        let msg = type_mismatch(T::DATA_TYPE, &d);
        T::unwrap(d).ok_or(msg)
    }
}

/// An enumeration usable as a DevEnum attribute or a DevShort command argument.
/// Declare it with [`tango_enum!`](crate::tango_enum).
pub trait TangoEnum: Sized + Copy + 'static {
    const LABELS: &'static [&'static str];
    fn to_i16(self) -> i16;
    fn from_i16(v: i16) -> Option<Self>;
    fn label(self) -> &'static str {
        Self::LABELS.iter().copied().nth(self.to_i16() as usize).unwrap_or("?")
    }
    /// Parse a label (case-insensitive) or a number.
    fn parse(s: &str) -> Option<Self> {
        if let Ok(n) = s.trim().parse::<i16>() {
            return Self::from_i16(n);
        }
        Self::LABELS.iter().position(|l| l.eq_ignore_ascii_case(s.trim())).and_then(|i| Self::from_i16(i as i16))
    }
}

/// Declare a Tango enumeration: contiguous ordinals from 0, labels = variant names.
///
/// ```
/// tango::tango_enum! { pub enum AdminMode { ONLINE = 0, OFFLINE = 1 } }
/// ```
#[macro_export]
macro_rules! tango_enum {
    ($(#[$m:meta])* $vis:vis enum $name:ident { $($(#[$vm:meta])* $v:ident = $n:expr),* $(,)? }) => {
        $(#[$m])*
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i16)]
        $vis enum $name { $($(#[$vm])* $v = $n),* }
        impl $crate::device::TangoEnum for $name {
            const LABELS: &'static [&'static str] = &[$(stringify!($v)),*];
            fn to_i16(self) -> i16 { self as i16 }
            fn from_i16(v: i16) -> Option<Self> {
                match v { $(x if x == $n => Some($name::$v),)* _ => None }
            }
        }
        impl $crate::device::AttrValue for $name {
            const DATA_TYPE: $crate::idl::CmdArgType = $crate::idl::CmdArgType::DevEnum;
            const FORMAT: $crate::idl::AttrDataFormat = $crate::idl::AttrDataFormat::SCALAR;
            fn enum_labels() -> Vec<String> {
                <$name as $crate::device::TangoEnum>::LABELS.iter().map(|s| s.to_string()).collect()
            }
            fn into_data(self) -> $crate::idl::AttrData { $crate::idl::AttrData::Short(vec![self as i16]) }
            fn from_data(d: $crate::idl::AttrData) -> Result<Self, String> {
                $crate::device::enum_from_data::<$name>(d)
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(<$name as $crate::device::TangoEnum>::label(*self))
            }
        }
    };
}

/// Written DevEnum data (DevShort on the wire) to the enum, with a message listing the labels.
pub fn enum_from_data<E: TangoEnum>(d: AttrData) -> Result<E, String> {
    let n = match d {
        AttrData::Short(v) if v.len() == 1 => v[0],
        AttrData::Short(v) => return Err(format!("a scalar attribute takes exactly one value, got {}", v.len())),
        other => return Err(type_mismatch(CmdArgType::DevEnum, &other)),
    };
    E::from_i16(n).ok_or_else(|| {
        let allowed: Vec<String> = E::LABELS.iter().enumerate().map(|(i, l)| format!("{i} ({l})")).collect();
        format!("{n} is not a valid value; allowed: {}", allowed.join(", "))
    })
}

/// A value type a command can take or return.
pub trait CmdArg: Sized + 'static {
    const TYPE: CmdArgType;
    fn into_value(self) -> CmdValue;
    fn from_value(v: CmdValue) -> Option<Self>;
}

macro_rules! cmd_arg {
    ($t:ty, $variant:ident, $dt:ident) => {
        impl CmdArg for $t {
            const TYPE: CmdArgType = CmdArgType::$dt;
            fn into_value(self) -> CmdValue {
                CmdValue::$variant(self)
            }
            fn from_value(v: CmdValue) -> Option<Self> {
                match v {
                    CmdValue::$variant(x) => Some(x),
                    _ => None,
                }
            }
        }
    };
}

cmd_arg!(bool, Boolean, DevBoolean);
cmd_arg!(i16, Short, DevShort);
cmd_arg!(i32, Long, DevLong);
cmd_arg!(f32, Float, DevFloat);
cmd_arg!(f64, Double, DevDouble);
cmd_arg!(u16, UShort, DevUShort);
cmd_arg!(u32, ULong, DevULong);
cmd_arg!(String, String, DevString);
cmd_arg!(Vec<u8>, CharArray, DevVarCharArray);
cmd_arg!(Vec<i16>, ShortArray, DevVarShortArray);
cmd_arg!(Vec<i32>, LongArray, DevVarLongArray);
cmd_arg!(Vec<f32>, FloatArray, DevVarFloatArray);
cmd_arg!(Vec<f64>, DoubleArray, DevVarDoubleArray);
cmd_arg!(Vec<u16>, UShortArray, DevVarUShortArray);
cmd_arg!(Vec<u32>, ULongArray, DevVarULongArray);
cmd_arg!(Vec<String>, StringArray, DevVarStringArray);
cmd_arg!(DevState, State, DevState);
cmd_arg!(Vec<bool>, BooleanArray, DevVarBooleanArray);
cmd_arg!(u8, UChar, DevUChar);
cmd_arg!(i64, Long64, DevLong64);
cmd_arg!(u64, ULong64, DevULong64);
cmd_arg!(Vec<i64>, Long64Array, DevVarLong64Array);
cmd_arg!(Vec<u64>, ULong64Array, DevVarULong64Array);
cmd_arg!(DevEncoded, Encoded, DevEncoded);
cmd_arg!(Vec<DevState>, StateArray, DevVarStateArray);

impl CmdArg for () {
    const TYPE: CmdArgType = CmdArgType::DevVoid;
    fn into_value(self) -> CmdValue {
        CmdValue::Void
    }
    fn from_value(v: CmdValue) -> Option<Self> {
        matches!(v, CmdValue::Void).then_some(())
    }
}

/// `DevVarLongStringArray`.
impl CmdArg for (Vec<i32>, Vec<String>) {
    const TYPE: CmdArgType = CmdArgType::DevVarLongStringArray;
    fn into_value(self) -> CmdValue {
        CmdValue::LongStringArray(self.0, self.1)
    }
    fn from_value(v: CmdValue) -> Option<Self> {
        match v {
            CmdValue::LongStringArray(l, s) => Some((l, s)),
            _ => None,
        }
    }
}

/// `DevVarDoubleStringArray`.
impl CmdArg for (Vec<f64>, Vec<String>) {
    const TYPE: CmdArgType = CmdArgType::DevVarDoubleStringArray;
    fn into_value(self) -> CmdValue {
        CmdValue::DoubleStringArray(self.0, self.1)
    }
    fn from_value(v: CmdValue) -> Option<Self> {
        match v {
            CmdValue::DoubleStringArray(d, s) => Some((d, s)),
            _ => None,
        }
    }
}

pub(crate) type ReadFn<D> = Box<dyn Fn(&D) -> Result<AttrData, DevFailed> + Send + Sync>;
pub(crate) type WriteFn<D> = Box<dyn Fn(&mut D, AttrData) -> Result<(), DevFailed> + Send + Sync>;
pub(crate) type CmdFn<D> = Box<dyn Fn(&mut D, CmdValue) -> Result<CmdValue, DevFailed> + Send + Sync>;
pub(crate) type AllowedFn<D> = Box<dyn Fn(&D) -> Result<(), DevFailed> + Send + Sync>;

/// Static description of an attribute (what `get_attribute_config` reports initially).
#[derive(Debug, Clone)]
pub struct AttrInfo {
    pub name: String,
    pub data_type: CmdArgType,
    pub format: AttrDataFormat,
    pub writable: AttrWriteType,
    pub max_dim_x: i32,
    pub label: Option<String>,
    pub description: Option<String>,
    pub unit: String,
    pub display_format: Option<String>,
    pub min_value: Option<String>,
    pub max_value: Option<String>,
    pub enum_labels: Vec<String>,
    pub level: DispLevel,
    pub memorized: bool,
    /// Poll period: the runtime reads the attribute on this timer to detect changes and send
    /// periodic events.
    pub polling: Option<std::time::Duration>,
    pub abs_change: Option<String>,
    pub rel_change: Option<String>,
    pub event_period: Option<String>,
    pub archive_abs_change: Option<String>,
    pub archive_rel_change: Option<String>,
    pub archive_period: Option<String>,
}

impl AttrInfo {
    /// An attribute with every optional property unset (cppTango's defaults apply).
    pub fn new(name: &str, data_type: CmdArgType, format: AttrDataFormat, writable: AttrWriteType) -> AttrInfo {
        AttrInfo {
            name: name.to_string(),
            data_type,
            format,
            writable,
            max_dim_x: if format == AttrDataFormat::SCALAR { 1 } else { 256 },
            label: None,
            description: None,
            unit: String::new(),
            display_format: None,
            min_value: None,
            max_value: None,
            enum_labels: Vec::new(),
            level: DispLevel::OPERATOR,
            memorized: false,
            polling: None,
            abs_change: None,
            rel_change: None,
            event_period: None,
            archive_abs_change: None,
            archive_rel_change: None,
            archive_period: None,
        }
    }
}

/// Start of an attribute declaration: `Attr::new("name")` then `.read(...)` and/or `.write(...)`.
pub struct Attr;

impl Attr {
    #[allow(clippy::new_ret_no_self)]
    pub fn new(name: &str) -> AttrName {
        AttrName(name.to_string())
    }
}

/// An attribute name waiting for its reader or writer (which fix its type).
pub struct AttrName(String);

impl AttrName {
    /// A readable attribute; `T` decides the Tango type and format.
    pub fn read<D, T: AttrValue, R: IntoAttrResult<T>>(self, f: impl Fn(&D) -> R + Send + Sync + 'static) -> AttrDef<D, T> {
        AttrDef::new(self.0, AttrWriteType::READ, Some(Box::new(move |d: &D| f(d).into_result().map(T::into_data))), None)
    }

    /// A write-only attribute.
    pub fn write<D, T: AttrValue>(self, f: impl Fn(&mut D, T) -> Result<(), DevFailed> + Send + Sync + 'static) -> AttrDef<D, T> {
        let name = self.0.clone();
        AttrDef::new(self.0, AttrWriteType::WRITE, None, Some(writer(name, f)))
    }
}

/// Lets readers return either `T` or `Result<T, DevFailed>`.
pub trait IntoAttrResult<T> {
    fn into_result(self) -> Result<T, DevFailed>;
}

impl<T: AttrValue> IntoAttrResult<T> for T {
    fn into_result(self) -> Result<T, DevFailed> {
        Ok(self)
    }
}

impl<T: AttrValue> IntoAttrResult<T> for Result<T, DevFailed> {
    fn into_result(self) -> Result<T, DevFailed> {
        self
    }
}

fn writer<D, T: AttrValue>(name: String, f: impl Fn(&mut D, T) -> Result<(), DevFailed> + Send + Sync + 'static) -> WriteFn<D> {
    Box::new(move |d: &mut D, data: AttrData| {
        let v = T::from_data(data).map_err(|why| {
            DevFailed::new(
                "API_IncompatibleAttrArgumentType",
                format!("Cannot write attribute {name}: {why}"),
                "Attribute::set_write_value",
            )
        })?;
        f(d, v)
    })
}

/// A typed attribute declaration; configure it with the builder methods.
pub struct AttrDef<D, T> {
    pub(crate) info: AttrInfo,
    pub(crate) read: Option<ReadFn<D>>,
    pub(crate) write: Option<WriteFn<D>>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<D, T: AttrValue> AttrDef<D, T> {
    fn new(name: String, writable: AttrWriteType, read: Option<ReadFn<D>>, write: Option<WriteFn<D>>) -> Self {
        let mut info = AttrInfo::new(&name, T::DATA_TYPE, T::FORMAT, writable);
        info.enum_labels = T::enum_labels();
        AttrDef { info, read, write, _t: std::marker::PhantomData }
    }

    /// Make the attribute writable too (READ_WRITE).
    pub fn write(mut self, f: impl Fn(&mut D, T) -> Result<(), DevFailed> + Send + Sync + 'static) -> Self {
        self.write = Some(writer(self.info.name.clone(), f));
        self.info.writable = AttrWriteType::READ_WRITE;
        self
    }

    pub fn label(mut self, s: &str) -> Self {
        self.info.label = Some(s.into());
        self
    }
    pub fn description(mut self, s: &str) -> Self {
        self.info.description = Some(s.into());
        self
    }
    pub fn unit(mut self, s: &str) -> Self {
        self.info.unit = s.into();
        self
    }
    /// printf-style display format, e.g. `%6.3f`.
    pub fn format(mut self, s: &str) -> Self {
        self.info.display_format = Some(s.into());
        self
    }
    pub fn min_value(mut self, v: impl ToString) -> Self {
        self.info.min_value = Some(v.to_string());
        self
    }
    pub fn max_value(mut self, v: impl ToString) -> Self {
        self.info.max_value = Some(v.to_string());
        self
    }
    /// Maximum number of elements of a spectrum.
    pub fn max_dim_x(mut self, n: i32) -> Self {
        self.info.max_dim_x = n;
        self
    }
    pub fn display_level(mut self, l: DispLevel) -> Self {
        self.info.level = l;
        self
    }
    pub fn memorized(mut self) -> Self {
        self.info.memorized = true;
        self
    }
    /// Read the attribute every `ms` milliseconds to find changes made outside requests, and
    /// to send periodic events.
    pub fn polled(mut self, ms: u64) -> Self {
        self.info.polling = Some(std::time::Duration::from_millis(ms.max(10)));
        self
    }
    /// Change-event threshold: absolute change that triggers an event.
    pub fn abs_change(mut self, v: impl ToString) -> Self {
        self.info.abs_change = Some(v.to_string());
        self
    }
    /// Change-event threshold in percent.
    pub fn rel_change(mut self, v: impl ToString) -> Self {
        self.info.rel_change = Some(v.to_string());
        self
    }
    /// Periodic-event period in milliseconds (default 1000).
    pub fn event_period(mut self, ms: u64) -> Self {
        self.info.event_period = Some(ms.to_string());
        self
    }
    pub fn archive_abs_change(mut self, v: impl ToString) -> Self {
        self.info.archive_abs_change = Some(v.to_string());
        self
    }
    pub fn archive_rel_change(mut self, v: impl ToString) -> Self {
        self.info.archive_rel_change = Some(v.to_string());
        self
    }
    /// Archive-event period in milliseconds.
    pub fn archive_period(mut self, ms: u64) -> Self {
        self.info.archive_period = Some(ms.to_string());
        self
    }
}

/// Start of a command declaration: `Cmd::new("Name").run(|d: &mut D, arg: In| -> Result<Out, DevFailed>)`.
pub struct Cmd {
    name: String,
    doc_in: Option<String>,
    doc_out: Option<String>,
    level: DispLevel,
}

impl Cmd {
    pub fn new(name: &str) -> Cmd {
        Cmd { name: name.into(), doc_in: None, doc_out: None, level: DispLevel::OPERATOR }
    }
    pub fn doc_in(mut self, s: &str) -> Self {
        self.doc_in = Some(s.into());
        self
    }
    pub fn doc_out(mut self, s: &str) -> Self {
        self.doc_out = Some(s.into());
        self
    }
    pub fn display_level(mut self, l: DispLevel) -> Self {
        self.level = l;
        self
    }

    /// The handler; `I` and `O` decide the Tango argument types (`()` is DevVoid).
    pub fn run<D, I: CmdArg, O: CmdArg>(self, f: impl Fn(&mut D, I) -> Result<O, DevFailed> + Send + Sync + 'static) -> CmdDef<D> {
        let name = self.name.clone();
        let handler: CmdFn<D> = Box::new(move |d: &mut D, v: CmdValue| {
            let got = v.arg_type();
            let arg = I::from_value(v).ok_or_else(|| incompatible_arg(&name, I::TYPE, got))?;
            f(d, arg).map(O::into_value)
        });
        let doc_in = self.doc_in.unwrap_or_else(|| default_doc(I::TYPE, "input"));
        let doc_out = self.doc_out.unwrap_or_else(|| default_doc(O::TYPE, "output"));
        CmdDef { name: self.name, in_type: I::TYPE, out_type: O::TYPE, doc_in, doc_out, level: self.level, handler, allowed: None }
    }
}

/// cppTango's wording, which clients and operators know.
pub(crate) fn incompatible_arg(cmd: &str, expected: CmdArgType, _got: CmdArgType) -> DevFailed {
    DevFailed::new(
        "API_IncompatibleCmdArgumentType",
        format!("Incompatible command argument type, expected type is : Tango::{expected:?}"),
        format!("{cmd}::execute"),
    )
}

fn default_doc(t: CmdArgType, dir: &str) -> String {
    if t == CmdArgType::DevVoid {
        format!("No {dir} parameter (DevVoid)")
    } else {
        "Uninitialised".into()
    }
}

/// A command declaration.
pub struct CmdDef<D> {
    pub(crate) name: String,
    pub(crate) in_type: CmdArgType,
    pub(crate) out_type: CmdArgType,
    pub(crate) doc_in: String,
    pub(crate) doc_out: String,
    pub(crate) level: DispLevel,
    pub(crate) handler: CmdFn<D>,
    pub(crate) allowed: Option<AllowedFn<D>>,
}

impl<D> CmdDef<D> {
    /// A guard run before the handler; its error (typically `API_CommandNotAllowed`) is what
    /// the client gets.
    pub fn allowed(mut self, f: impl Fn(&D) -> Result<(), DevFailed> + Send + Sync + 'static) -> Self {
        self.allowed = Some(Box::new(f));
        self
    }
}

/// An attribute with its type erased, as the runtime keeps it.
pub(crate) struct AttrEntry<D> {
    pub(crate) info: AttrInfo,
    pub(crate) read: Option<ReadFn<D>>,
    pub(crate) write: Option<WriteFn<D>>,
}

/// The class description of a device type.
pub struct DeviceClass<D> {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) attributes: Vec<AttrEntry<D>>,
    pub(crate) commands: Vec<CmdDef<D>>,
    pub(crate) device_properties: Vec<crate::services::PropertyDecl>,
    pub(crate) class_properties: Vec<crate::services::PropertyDecl>,
}

impl<D> DeviceClass<D> {
    pub fn new(name: &str) -> Self {
        DeviceClass {
            name: name.into(),
            description: "A Tango device".into(),
            attributes: Vec::new(),
            commands: Vec::new(),
            device_properties: Vec::new(),
            class_properties: Vec::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// What `description()` returns for devices of this class.
    pub fn description(mut self, s: &str) -> Self {
        self.description = s.into();
        self
    }

    pub fn attribute<T: AttrValue>(mut self, a: AttrDef<D, T>) -> Self {
        assert!(
            !self.attributes.iter().any(|e| e.info.name.eq_ignore_ascii_case(&a.info.name)),
            "attribute {} declared twice",
            a.info.name
        );
        self.attributes.push(AttrEntry { info: a.info, read: a.read, write: a.write });
        self
    }

    /// Declare a device property (what Jive's wizard shows, `QueryWizardDevProperty`);
    /// `default` values, if any, are what the device uses when the database has none.
    pub fn device_property(mut self, name: &str, description: &str, default: &[&str]) -> Self {
        self.device_properties.push(crate::services::PropertyDecl::new(name, description, default));
        self
    }

    /// Declare a class property (`QueryWizardClassProperty`).
    pub fn class_property(mut self, name: &str, description: &str, default: &[&str]) -> Self {
        self.class_properties.push(crate::services::PropertyDecl::new(name, description, default));
        self
    }

    pub fn command(mut self, c: CmdDef<D>) -> Self {
        assert!(!self.commands.iter().any(|e| e.name.eq_ignore_ascii_case(&c.name)), "command {} declared twice", c.name);
        self.commands.push(c);
        self
    }
}
