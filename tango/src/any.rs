//! CORBA `any` as Tango uses it: command arguments and results.
//!
//! Incoming TypeCodes are decoded generically and then matched *structurally* to a Tango
//! type (aliases and names are ignored), because different ORBs spell the same type
//! differently. Outgoing TypeCodes reproduce exactly what cppTango sends, aliases included,
//! so that omniORB's extraction operators accept them.

use crate::cdr::{CdrError, CdrReader, CdrWriter, Result};
use crate::idl::{CmdArgType, DevEncoded, DevState};

/// Deeper TypeCodes than this are rejected (no Tango type nests more than 4 levels).
const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone, PartialEq)]
pub enum TypeCode {
    Null,
    Void,
    Short,
    Long,
    UShort,
    ULong,
    Float,
    Double,
    Boolean,
    Char,
    Octet,
    Any,
    TypeCode,
    LongLong,
    ULongLong,
    String(u32),
    WString(u32),
    Objref {
        id: String,
        name: String,
    },
    Struct {
        id: String,
        name: String,
        members: Vec<(String, TypeCode)>,
    },
    Except {
        id: String,
        name: String,
        members: Vec<(String, TypeCode)>,
    },
    Enum {
        id: String,
        name: String,
        members: Vec<String>,
    },
    Sequence(Box<TypeCode>, u32),
    Array(Box<TypeCode>, u32),
    Alias {
        id: String,
        name: String,
        content: Box<TypeCode>,
    },
    /// Unions are parsed (to skip them) but not used by Tango command arguments.
    Union {
        id: String,
        name: String,
    },
}

impl TypeCode {
    /// Strip aliases.
    pub fn resolve(&self) -> &TypeCode {
        match self {
            TypeCode::Alias { content, .. } => content.resolve(),
            t => t,
        }
    }

    pub fn decode(r: &mut CdrReader<'_>) -> Result<TypeCode> {
        Self::decode_depth(r, 0)
    }

    fn decode_depth(r: &mut CdrReader<'_>, depth: usize) -> Result<TypeCode> {
        if depth > MAX_DEPTH {
            return Err(CdrError::TooDeep);
        }
        let kind = r.read_u32()?;
        Ok(match kind {
            0 => TypeCode::Null,
            1 => TypeCode::Void,
            2 => TypeCode::Short,
            3 => TypeCode::Long,
            4 => TypeCode::UShort,
            5 => TypeCode::ULong,
            6 => TypeCode::Float,
            7 => TypeCode::Double,
            8 => TypeCode::Boolean,
            9 => TypeCode::Char,
            10 => TypeCode::Octet,
            11 => TypeCode::Any,
            12 => TypeCode::TypeCode,
            23 => TypeCode::LongLong,
            24 => TypeCode::ULongLong,
            18 => TypeCode::String(r.read_u32()?),
            27 => TypeCode::WString(r.read_u32()?),
            14 => {
                let mut e = r.read_encapsulation()?;
                TypeCode::Objref { id: e.read_string()?, name: e.read_string()? }
            }
            15 | 22 => {
                let mut e = r.read_encapsulation()?;
                let id = e.read_string()?;
                let name = e.read_string()?;
                let n = e.read_len(8)?;
                let mut members = Vec::with_capacity(n);
                for _ in 0..n {
                    let m = e.read_string()?;
                    members.push((m, Self::decode_depth(&mut e, depth + 1)?));
                }
                if kind == 15 {
                    TypeCode::Struct { id, name, members }
                } else {
                    TypeCode::Except { id, name, members }
                }
            }
            16 => {
                // Skip the whole encapsulation; we never need union values.
                let mut e = r.read_encapsulation()?;
                TypeCode::Union { id: e.read_string()?, name: e.read_string()? }
            }
            17 => {
                let mut e = r.read_encapsulation()?;
                let id = e.read_string()?;
                let name = e.read_string()?;
                let members = e.read_seq::<String>()?;
                TypeCode::Enum { id, name, members }
            }
            19 | 20 => {
                let mut e = r.read_encapsulation()?;
                let elem = Self::decode_depth(&mut e, depth + 1)?;
                let bound = e.read_u32()?;
                if kind == 19 {
                    TypeCode::Sequence(Box::new(elem), bound)
                } else {
                    TypeCode::Array(Box::new(elem), bound)
                }
            }
            21 => {
                let mut e = r.read_encapsulation()?;
                let id = e.read_string()?;
                let name = e.read_string()?;
                let content = Self::decode_depth(&mut e, depth + 1)?;
                TypeCode::Alias { id, name, content: Box::new(content) }
            }
            0xffff_ffff => return Err(CdrError::Invalid("TypeCode indirection is not supported".into())),
            k => return Err(CdrError::BadDiscriminant { what: "TCKind", value: k as i64 }),
        })
    }

    pub fn encode(&self, w: &mut CdrWriter) {
        let simple = |w: &mut CdrWriter, k: u32| w.write_u32(k);
        match self {
            TypeCode::Null => simple(w, 0),
            TypeCode::Void => simple(w, 1),
            TypeCode::Short => simple(w, 2),
            TypeCode::Long => simple(w, 3),
            TypeCode::UShort => simple(w, 4),
            TypeCode::ULong => simple(w, 5),
            TypeCode::Float => simple(w, 6),
            TypeCode::Double => simple(w, 7),
            TypeCode::Boolean => simple(w, 8),
            TypeCode::Char => simple(w, 9),
            TypeCode::Octet => simple(w, 10),
            TypeCode::Any => simple(w, 11),
            TypeCode::TypeCode => simple(w, 12),
            TypeCode::LongLong => simple(w, 23),
            TypeCode::ULongLong => simple(w, 24),
            TypeCode::String(b) => {
                w.write_u32(18);
                w.write_u32(*b)
            }
            TypeCode::WString(b) => {
                w.write_u32(27);
                w.write_u32(*b)
            }
            TypeCode::Objref { id, name } => {
                w.write_u32(14);
                w.write_encapsulation(|e| {
                    e.write_string(id);
                    e.write_string(name)
                })
            }
            TypeCode::Struct { id, name, members } | TypeCode::Except { id, name, members } => {
                w.write_u32(if matches!(self, TypeCode::Struct { .. }) { 15 } else { 22 });
                w.write_encapsulation(|e| {
                    e.write_string(id);
                    e.write_string(name);
                    e.write_len(members.len());
                    for (m, t) in members {
                        e.write_string(m);
                        t.encode(e);
                    }
                })
            }
            TypeCode::Enum { id, name, members } => {
                w.write_u32(17);
                w.write_encapsulation(|e| {
                    e.write_string(id);
                    e.write_string(name);
                    e.write_seq(members)
                })
            }
            TypeCode::Sequence(t, b) | TypeCode::Array(t, b) => {
                w.write_u32(if matches!(self, TypeCode::Sequence(..)) { 19 } else { 20 });
                w.write_encapsulation(|e| {
                    t.encode(e);
                    e.write_u32(*b)
                })
            }
            TypeCode::Alias { id, name, content } => {
                w.write_u32(21);
                w.write_encapsulation(|e| {
                    e.write_string(id);
                    e.write_string(name);
                    content.encode(e)
                })
            }
            TypeCode::Union { id, name } => {
                // never sent by us; emit an empty-member union for completeness
                w.write_u32(16);
                w.write_encapsulation(|e| {
                    e.write_string(id);
                    e.write_string(name);
                    TypeCode::Long.encode(e);
                    e.write_i32(-1);
                    e.write_u32(0)
                })
            }
        }
    }
}

/// A Tango command argument or result.
#[derive(Debug, Clone, PartialEq)]
pub enum CmdValue {
    Void,
    Boolean(bool),
    Short(i16),
    Long(i32),
    Float(f32),
    Double(f64),
    UShort(u16),
    ULong(u32),
    String(String),
    CharArray(Vec<u8>),
    ShortArray(Vec<i16>),
    LongArray(Vec<i32>),
    FloatArray(Vec<f32>),
    DoubleArray(Vec<f64>),
    UShortArray(Vec<u16>),
    ULongArray(Vec<u32>),
    StringArray(Vec<String>),
    LongStringArray(Vec<i32>, Vec<String>),
    DoubleStringArray(Vec<f64>, Vec<String>),
    State(DevState),
    BooleanArray(Vec<bool>),
    UChar(u8),
    Long64(i64),
    ULong64(u64),
    Long64Array(Vec<i64>),
    ULong64Array(Vec<u64>),
    Encoded(DevEncoded),
    StateArray(Vec<DevState>),
}

impl CmdValue {
    pub fn arg_type(&self) -> CmdArgType {
        use CmdArgType as T;
        match self {
            CmdValue::Void => T::DevVoid,
            CmdValue::Boolean(_) => T::DevBoolean,
            CmdValue::Short(_) => T::DevShort,
            CmdValue::Long(_) => T::DevLong,
            CmdValue::Float(_) => T::DevFloat,
            CmdValue::Double(_) => T::DevDouble,
            CmdValue::UShort(_) => T::DevUShort,
            CmdValue::ULong(_) => T::DevULong,
            CmdValue::String(_) => T::DevString,
            CmdValue::CharArray(_) => T::DevVarCharArray,
            CmdValue::ShortArray(_) => T::DevVarShortArray,
            CmdValue::LongArray(_) => T::DevVarLongArray,
            CmdValue::FloatArray(_) => T::DevVarFloatArray,
            CmdValue::DoubleArray(_) => T::DevVarDoubleArray,
            CmdValue::UShortArray(_) => T::DevVarUShortArray,
            CmdValue::ULongArray(_) => T::DevVarULongArray,
            CmdValue::StringArray(_) => T::DevVarStringArray,
            CmdValue::LongStringArray(..) => T::DevVarLongStringArray,
            CmdValue::DoubleStringArray(..) => T::DevVarDoubleStringArray,
            CmdValue::State(_) => T::DevState,
            CmdValue::BooleanArray(_) => T::DevVarBooleanArray,
            CmdValue::UChar(_) => T::DevUChar,
            CmdValue::Long64(_) => T::DevLong64,
            CmdValue::ULong64(_) => T::DevULong64,
            CmdValue::Long64Array(_) => T::DevVarLong64Array,
            CmdValue::ULong64Array(_) => T::DevVarULong64Array,
            CmdValue::Encoded(_) => T::DevEncoded,
            CmdValue::StateArray(_) => T::DevVarStateArray,
        }
    }
}

fn alias_seq(name: &str, elem: TypeCode) -> TypeCode {
    TypeCode::Alias { id: format!("IDL:Tango/{name}:1.0"), name: name.into(), content: Box::new(TypeCode::Sequence(Box::new(elem), 0)) }
}

pub fn dev_state_typecode() -> TypeCode {
    TypeCode::Enum {
        id: "IDL:Tango/DevState:1.0".into(),
        name: "DevState".into(),
        members: DevState::ALL.iter().map(|s| s.name().to_string()).collect(),
    }
}

fn pair_struct(name: &str, first: (&str, TypeCode)) -> TypeCode {
    TypeCode::Struct {
        id: format!("IDL:Tango/{name}:1.0"),
        name: name.into(),
        members: vec![(first.0.into(), first.1), ("svalue".into(), alias_seq("DevVarStringArray", TypeCode::String(0)))],
    }
}

/// The TypeCode cppTango sends for a value of Tango type `t`.
pub fn typecode_for(t: CmdArgType) -> TypeCode {
    use CmdArgType as T;
    match t {
        T::DevVoid => TypeCode::Null,
        T::DevBoolean => TypeCode::Boolean,
        T::DevShort | T::DevEnum => TypeCode::Short,
        T::DevLong => TypeCode::Long,
        T::DevFloat => TypeCode::Float,
        T::DevDouble => TypeCode::Double,
        T::DevUShort => TypeCode::UShort,
        T::DevULong => TypeCode::ULong,
        T::DevString | T::ConstDevString => TypeCode::String(0),
        T::DevUChar => TypeCode::Octet,
        T::DevLong64 => TypeCode::LongLong,
        T::DevULong64 => TypeCode::ULongLong,
        T::DevState => dev_state_typecode(),
        T::DevVarCharArray => alias_seq("DevVarCharArray", TypeCode::Octet),
        T::DevVarShortArray => alias_seq("DevVarShortArray", TypeCode::Short),
        T::DevVarLongArray => alias_seq("DevVarLongArray", TypeCode::Long),
        T::DevVarFloatArray => alias_seq("DevVarFloatArray", TypeCode::Float),
        T::DevVarDoubleArray => alias_seq("DevVarDoubleArray", TypeCode::Double),
        T::DevVarUShortArray => alias_seq("DevVarUShortArray", TypeCode::UShort),
        T::DevVarULongArray => alias_seq("DevVarULongArray", TypeCode::ULong),
        T::DevVarLong64Array => alias_seq("DevVarLong64Array", TypeCode::LongLong),
        T::DevVarULong64Array => alias_seq("DevVarULong64Array", TypeCode::ULongLong),
        T::DevVarBooleanArray => alias_seq("DevVarBooleanArray", TypeCode::Boolean),
        T::DevVarStringArray => alias_seq("DevVarStringArray", TypeCode::String(0)),
        T::DevVarStateArray => alias_seq("DevVarStateArray", dev_state_typecode()),
        T::DevVarLongStringArray => pair_struct("DevVarLongStringArray", ("lvalue", alias_seq("DevVarLongArray", TypeCode::Long))),
        T::DevVarDoubleStringArray => pair_struct("DevVarDoubleStringArray", ("dvalue", alias_seq("DevVarDoubleArray", TypeCode::Double))),
        T::DevEncoded => TypeCode::Struct {
            id: "IDL:Tango/DevEncoded:1.0".into(),
            name: "DevEncoded".into(),
            members: vec![
                (
                    "encoded_format".into(),
                    TypeCode::Alias {
                        id: "IDL:Tango/DevString:1.0".into(),
                        name: "DevString".into(),
                        content: Box::new(TypeCode::String(0)),
                    },
                ),
                ("encoded_data".into(), alias_seq("DevVarCharArray", TypeCode::Octet)),
            ],
        },
    }
}

/// Write `v` as an `any` (TypeCode + value).
pub fn encode_any(w: &mut CdrWriter, v: &CmdValue) {
    write_typecode_for(w, v.arg_type());
    encode_value(w, v);
}

/// Write the TypeCode of `t` from bytes encoded once per type: building the tree of a
/// struct's TypeCode (names, ids, members) and encoding it was a sixth of the CPU of a
/// command reply carrying 100 strings. A TypeCode starts with its 4-aligned kind, and what
/// follows is either 4-aligned words or encapsulations (aligned within themselves), so the
/// bytes encoded at offset 0 are the bytes at any 4-aligned offset.
fn write_typecode_for(w: &mut CdrWriter, t: CmdArgType) {
    static ENCODED: [std::sync::OnceLock<Vec<u8>>; 32] = [const { std::sync::OnceLock::new() }; 32];
    let bytes = ENCODED[t as usize].get_or_init(|| {
        let mut e = CdrWriter::new();
        typecode_for(t).encode(&mut e);
        e.into_bytes()
    });
    w.align(4);
    w.write_raw(bytes);
}

fn encode_value(w: &mut CdrWriter, v: &CmdValue) {
    match v {
        CmdValue::Void => {}
        CmdValue::Boolean(b) => w.write_bool(*b),
        CmdValue::Short(x) => w.write_i16(*x),
        CmdValue::Long(x) => w.write_i32(*x),
        CmdValue::Float(x) => w.write_f32(*x),
        CmdValue::Double(x) => w.write_f64(*x),
        CmdValue::UShort(x) => w.write_u16(*x),
        CmdValue::ULong(x) => w.write_u32(*x),
        CmdValue::String(s) => w.write_string(s),
        CmdValue::CharArray(v) => w.write_octets(v),
        CmdValue::ShortArray(v) => w.write_seq(v),
        CmdValue::LongArray(v) => w.write_seq(v),
        CmdValue::FloatArray(v) => w.write_seq(v),
        CmdValue::DoubleArray(v) => w.write_seq(v),
        CmdValue::UShortArray(v) => w.write_seq(v),
        CmdValue::ULongArray(v) => w.write_seq(v),
        CmdValue::StringArray(v) => w.write_seq(v),
        CmdValue::LongStringArray(l, s) => {
            w.write_seq(l);
            w.write_seq(s)
        }
        CmdValue::DoubleStringArray(d, s) => {
            w.write_seq(d);
            w.write_seq(s)
        }
        CmdValue::State(s) => w.write(s),
        CmdValue::BooleanArray(v) => w.write_seq(v),
        CmdValue::UChar(x) => w.write_u8(*x),
        CmdValue::Long64(x) => w.write_i64(*x),
        CmdValue::ULong64(x) => w.write_u64(*x),
        CmdValue::Long64Array(v) => w.write_seq(v),
        CmdValue::ULong64Array(v) => w.write_seq(v),
        CmdValue::Encoded(e) => w.write(e),
        CmdValue::StateArray(v) => w.write_seq(v),
    }
}

/// Read an `any` and map it to a Tango value. A TypeCode that is no Tango command type is an
/// error naming it.
pub fn decode_any(r: &mut CdrReader<'_>) -> Result<CmdValue> {
    let tc = TypeCode::decode(r)?;
    decode_value(r, &tc)
}

fn is_seq_of(tc: &TypeCode) -> Option<&TypeCode> {
    match tc.resolve() {
        TypeCode::Sequence(e, _) => Some(e.resolve()),
        _ => None,
    }
}

fn is_state_enum(tc: &TypeCode) -> bool {
    matches!(tc.resolve(), TypeCode::Enum { members, .. } if members.len() == DevState::ALL.len())
}

/// Decode the value of an `any` whose TypeCode is `tc`.
pub fn decode_value(r: &mut CdrReader<'_>, tc: &TypeCode) -> Result<CmdValue> {
    let state = |r: &mut CdrReader<'_>| -> Result<DevState> { r.read::<DevState>() };
    Ok(match tc.resolve() {
        TypeCode::Null | TypeCode::Void => CmdValue::Void,
        TypeCode::Boolean => CmdValue::Boolean(r.read_bool()?),
        TypeCode::Short => CmdValue::Short(r.read_i16()?),
        TypeCode::Long => CmdValue::Long(r.read_i32()?),
        TypeCode::Float => CmdValue::Float(r.read_f32()?),
        TypeCode::Double => CmdValue::Double(r.read_f64()?),
        TypeCode::UShort => CmdValue::UShort(r.read_u16()?),
        TypeCode::ULong => CmdValue::ULong(r.read_u32()?),
        TypeCode::Octet | TypeCode::Char => CmdValue::UChar(r.read_u8()?),
        TypeCode::LongLong => CmdValue::Long64(r.read_i64()?),
        TypeCode::ULongLong => CmdValue::ULong64(r.read_u64()?),
        TypeCode::String(_) => CmdValue::String(r.read_string()?),
        t @ TypeCode::Enum { .. } if is_state_enum(t) => CmdValue::State(state(r)?),
        TypeCode::Sequence(elem, _) => match elem.resolve() {
            TypeCode::Octet | TypeCode::Char => CmdValue::CharArray(r.read_octets()?.to_vec()),
            TypeCode::Short => CmdValue::ShortArray(r.read_seq()?),
            TypeCode::Long => CmdValue::LongArray(r.read_seq()?),
            TypeCode::Float => CmdValue::FloatArray(r.read_seq()?),
            TypeCode::Double => CmdValue::DoubleArray(r.read_seq()?),
            TypeCode::UShort => CmdValue::UShortArray(r.read_seq()?),
            TypeCode::ULong => CmdValue::ULongArray(r.read_seq()?),
            TypeCode::LongLong => CmdValue::Long64Array(r.read_seq()?),
            TypeCode::ULongLong => CmdValue::ULong64Array(r.read_seq()?),
            TypeCode::Boolean => CmdValue::BooleanArray(r.read_seq()?),
            TypeCode::String(_) => CmdValue::StringArray(r.read_seq()?),
            t if is_state_enum(t) => CmdValue::StateArray(r.read_seq()?),
            other => return Err(unsupported(other)),
        },
        TypeCode::Struct { members, .. } if members.len() == 2 => {
            let (a, b) = (&members[0].1, &members[1].1);
            match (is_seq_of(a), is_seq_of(b), a.resolve()) {
                (Some(TypeCode::Long), Some(TypeCode::String(_)), _) => CmdValue::LongStringArray(r.read_seq()?, r.read_seq()?),
                (Some(TypeCode::Double), Some(TypeCode::String(_)), _) => CmdValue::DoubleStringArray(r.read_seq()?, r.read_seq()?),
                (_, Some(TypeCode::Octet), TypeCode::String(_)) => {
                    CmdValue::Encoded(DevEncoded { encoded_format: r.read_string()?, encoded_data: r.read_octets()?.to_vec() })
                }
                _ => return Err(unsupported(tc)),
            }
        }
        other => return Err(unsupported(other)),
    })
}

fn unsupported(tc: &TypeCode) -> CdrError {
    CdrError::Invalid(format!("the any carries a type that is no Tango command type: {tc:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: CmdValue) {
        let mut w = CdrWriter::new();
        encode_any(&mut w, &v);
        let b = w.into_bytes();
        let mut r = CdrReader::new(&b, 0, true);
        assert_eq!(decode_any(&mut r).unwrap(), v);
        assert!(r.is_empty(), "{v:?} left bytes");
    }

    #[test]
    fn every_command_type_round_trips() {
        round_trip(CmdValue::Void);
        round_trip(CmdValue::Boolean(true));
        round_trip(CmdValue::Short(-3));
        round_trip(CmdValue::Long(i32::MIN));
        round_trip(CmdValue::Float(0.25));
        round_trip(CmdValue::Double(f64::MAX));
        round_trip(CmdValue::UShort(65535));
        round_trip(CmdValue::ULong(u32::MAX));
        round_trip(CmdValue::String("hello".into()));
        round_trip(CmdValue::CharArray(vec![1, 2, 255]));
        round_trip(CmdValue::ShortArray(vec![1, -2]));
        round_trip(CmdValue::LongArray(vec![]));
        round_trip(CmdValue::FloatArray(vec![1.5]));
        round_trip(CmdValue::DoubleArray(vec![1.5, -0.0]));
        round_trip(CmdValue::UShortArray(vec![7]));
        round_trip(CmdValue::ULongArray(vec![7]));
        round_trip(CmdValue::StringArray(vec!["a".into(), "".into()]));
        round_trip(CmdValue::LongStringArray(vec![1, -2], vec!["a".into(), "bc".into()]));
        round_trip(CmdValue::DoubleStringArray(vec![1.0], vec!["x".into()]));
        round_trip(CmdValue::State(DevState::RUNNING));
        round_trip(CmdValue::BooleanArray(vec![true, false]));
        round_trip(CmdValue::UChar(200));
        round_trip(CmdValue::Long64(i64::MIN));
        round_trip(CmdValue::ULong64(u64::MAX));
        round_trip(CmdValue::Long64Array(vec![1]));
        round_trip(CmdValue::ULong64Array(vec![1]));
        round_trip(CmdValue::Encoded(DevEncoded { encoded_format: "json".into(), encoded_data: vec![1, 2] }));
        round_trip(CmdValue::StateArray(vec![DevState::ON, DevState::FAULT]));
    }

    #[test]
    fn kept_typecode_bytes_equal_a_fresh_encoding_wherever_they_land() {
        use CmdArgType as T;
        let all = [
            T::DevVoid, T::DevBoolean, T::DevShort, T::DevLong, T::DevFloat, T::DevDouble, T::DevUShort, T::DevULong,
            T::DevString, T::DevVarCharArray, T::DevVarShortArray, T::DevVarLongArray, T::DevVarFloatArray,
            T::DevVarDoubleArray, T::DevVarUShortArray, T::DevVarULongArray, T::DevVarStringArray,
            T::DevVarLongStringArray, T::DevVarDoubleStringArray, T::DevState, T::ConstDevString,
            T::DevVarBooleanArray, T::DevUChar, T::DevLong64, T::DevULong64, T::DevVarLong64Array,
            T::DevVarULong64Array, T::DevEncoded, T::DevEnum, T::DevVarStateArray,
        ];
        for t in all {
            for lead in 0..8 {
                let (mut kept, mut fresh) = (CdrWriter::new(), CdrWriter::new());
                for w in [&mut kept, &mut fresh] {
                    for _ in 0..lead {
                        w.write_u8(0xAA);
                    }
                }
                write_typecode_for(&mut kept, t);
                write_typecode_for(&mut kept, t); // the second from the kept bytes
                typecode_for(t).encode(&mut fresh);
                typecode_for(t).encode(&mut fresh);
                assert_eq!(kept.as_bytes(), fresh.as_bytes(), "{t:?} after {lead} bytes");
            }
        }
    }

    #[test]
    fn string_any_matches_capture() {
        let mut w = CdrWriter::new();
        encode_any(&mut w, &CmdValue::String("hello".into()));
        assert_eq!(w.as_bytes(), &[0x12, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, b'h', b'e', b'l', b'l', b'o', 0]);
    }

    #[test]
    fn bare_sequence_is_accepted_like_the_alias() {
        let mut w = CdrWriter::new();
        TypeCode::Sequence(Box::new(TypeCode::String(0)), 0).encode(&mut w);
        w.write_seq(&["x".to_string()]);
        let b = w.into_bytes();
        assert_eq!(decode_any(&mut CdrReader::new(&b, 0, true)).unwrap(), CmdValue::StringArray(vec!["x".into()]));
    }

    #[test]
    fn deep_typecodes_are_rejected() {
        let mut tc = TypeCode::Long;
        for _ in 0..40 {
            tc = TypeCode::Sequence(Box::new(tc), 0);
        }
        let mut w = CdrWriter::new();
        tc.encode(&mut w);
        let b = w.into_bytes();
        assert_eq!(TypeCode::decode(&mut CdrReader::new(&b, 0, true)), Err(CdrError::TooDeep));
    }
}
