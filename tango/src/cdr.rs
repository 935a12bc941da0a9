//! CORBA Common Data Representation (CDR), sans-IO.
//!
//! Every primitive is aligned to its own size, counted from an *alignment origin*: the first
//! byte of the GIOP header for message contents, the byte-order octet for an encapsulation.
//! The reader accepts both byte orders (Java ORBs may send big-endian); the writer always
//! produces little-endian, which is what every Tango client we know expects and accepts.
//!
//! Lengths read from the wire are checked against the bytes left *before* anything is
//! allocated, so a 4-byte lie cannot make us reserve gigabytes.

use std::fmt;

/// What went wrong while decoding CDR bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CdrError {
    /// Needed `need` more bytes at offset `at`, only `left` remain.
    Truncated { at: usize, need: usize, left: usize },
    /// A sequence/string length that cannot fit in what is left of the message.
    LengthTooLarge { at: usize, len: u64, left: usize },
    /// A string without its terminating NUL (or with length 0).
    BadString { at: usize },
    /// A boolean octet other than 0 or 1.
    BadBoolean { at: usize, value: u8 },
    /// A union discriminant or enum ordinal outside the type's range.
    BadDiscriminant { what: &'static str, value: i64 },
    /// Structural limit exceeded (TypeCode nesting depth, ...).
    TooDeep,
    /// Anything else, with an explanation.
    Invalid(String),
}

impl fmt::Display for CdrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CdrError::Truncated { at, need, left } => {
                write!(f, "truncated CDR: need {need} bytes at offset {at}, {left} left")
            }
            CdrError::LengthTooLarge { at, len, left } => {
                write!(f, "length {len} at offset {at} exceeds the {left} bytes left")
            }
            CdrError::BadString { at } => write!(f, "string at offset {at} is not NUL-terminated"),
            CdrError::BadBoolean { at, value } => write!(f, "boolean at offset {at} is {value}, not 0/1"),
            CdrError::BadDiscriminant { what, value } => write!(f, "invalid {what} value {value}"),
            CdrError::TooDeep => write!(f, "type nesting too deep"),
            CdrError::Invalid(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for CdrError {}

pub type Result<T> = std::result::Result<T, CdrError>;

/// Reads CDR from a byte slice. `pos` and alignment are relative to the start of the slice.
#[derive(Clone)]
pub struct CdrReader<'a> {
    buf: &'a [u8],
    pos: usize,
    little_endian: bool,
}

macro_rules! read_prim {
    ($name:ident, $t:ty, $n:expr) => {
        pub fn $name(&mut self) -> Result<$t> {
            self.align($n)?;
            let b = self.take($n)?;
            let arr: [u8; $n] = b.try_into().expect("length checked");
            Ok(if self.little_endian { <$t>::from_le_bytes(arr) } else { <$t>::from_be_bytes(arr) })
        }
    };
}

impl<'a> CdrReader<'a> {
    /// A reader whose alignment origin is `buf[0]`, starting at `pos`.
    pub fn new(buf: &'a [u8], pos: usize, little_endian: bool) -> Self {
        CdrReader { buf, pos, little_endian }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub fn little_endian(&self) -> bool {
        self.little_endian
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Skip padding so that the next read starts on a multiple of `n`.
    pub fn align(&mut self, n: usize) -> Result<()> {
        let pad = (n - self.pos % n) % n;
        if pad > self.remaining() {
            return Err(CdrError::Truncated { at: self.pos, need: pad, left: self.remaining() });
        }
        self.pos += pad;
        Ok(())
    }

    /// Take `n` raw bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(CdrError::Truncated { at: self.pos, need: n, left: self.remaining() });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn read_u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn read_i8(&mut self) -> Result<i8> {
        Ok(self.read_u8()? as i8)
    }

    pub fn read_bool(&mut self) -> Result<bool> {
        let at = self.pos;
        match self.read_u8()? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(CdrError::BadBoolean { at, value }),
        }
    }

    read_prim!(read_i16, i16, 2);
    read_prim!(read_u16, u16, 2);
    read_prim!(read_i32, i32, 4);
    read_prim!(read_u32, u32, 4);
    read_prim!(read_i64, i64, 8);
    read_prim!(read_u64, u64, 8);
    read_prim!(read_f32, f32, 4);
    read_prim!(read_f64, f64, 8);

    /// A sequence/array length, checked against the bytes left assuming each element needs
    /// at least `min_elem_size` bytes (use 1 for variable-size elements).
    pub fn read_len(&mut self, min_elem_size: usize) -> Result<usize> {
        let at = self.pos;
        let len = self.read_u32()? as u64;
        let need = len.saturating_mul(min_elem_size.max(1) as u64);
        if need > self.remaining() as u64 {
            return Err(CdrError::LengthTooLarge { at, len, left: self.remaining() });
        }
        Ok(len as usize)
    }

    /// An IDL string: length including the NUL, bytes, NUL. Bytes are ISO-8859-1 (the code
    /// set omniORB negotiates), so every byte maps to the char of the same number.
    pub fn read_string(&mut self) -> Result<String> {
        let at = self.pos;
        let len = self.read_len(1)?;
        if len == 0 {
            // Some ORBs send 0 for an empty string; accept it.
            return Ok(String::new());
        }
        let bytes = self.take(len)?;
        if bytes[len - 1] != 0 {
            return Err(CdrError::BadString { at });
        }
        Ok(latin1_to_string(&bytes[..len - 1]))
    }

    /// `sequence<octet>` as a borrowed slice.
    pub fn read_octets(&mut self) -> Result<&'a [u8]> {
        let n = self.read_len(1)?;
        self.take(n)
    }

    /// An encapsulation: `sequence<octet>` whose first octet is its byte order. Returns a
    /// reader positioned after that octet, with the alignment origin at the octet.
    pub fn read_encapsulation(&mut self) -> Result<CdrReader<'a>> {
        let bytes = self.read_octets()?;
        if bytes.is_empty() {
            return Err(CdrError::Invalid("empty encapsulation".into()));
        }
        let le = match bytes[0] {
            0 => false,
            1 => true,
            v => return Err(CdrError::Invalid(format!("encapsulation byte order {v}"))),
        };
        Ok(CdrReader::new(bytes, 1, le))
    }

    /// Decode a value of a type that knows how.
    pub fn read<T: Decode>(&mut self) -> Result<T> {
        T::decode(self)
    }

    /// `sequence<T>`, length checked with `T::MIN_SIZE`.
    pub fn read_seq<T: Decode>(&mut self) -> Result<Vec<T>> {
        let n = self.read_len(T::MIN_SIZE)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(T::decode(self)?);
        }
        Ok(v)
    }
}

/// Convert ISO-8859-1 bytes to a Rust string (each byte is the code point of the same value).
pub fn latin1_to_string(b: &[u8]) -> String {
    if b.is_ascii() {
        // Safe fast path: ASCII is valid UTF-8.
        return String::from_utf8(b.to_vec()).expect("ascii");
    }
    b.iter().map(|&c| c as char).collect()
}

/// Convert a Rust string to ISO-8859-1 bytes; characters outside Latin-1 become `?`.
pub fn string_to_latin1(s: &str) -> std::borrow::Cow<'_, [u8]> {
    if s.is_ascii() {
        return std::borrow::Cow::Borrowed(s.as_bytes());
    }
    std::borrow::Cow::Owned(s.chars().map(|c| if (c as u32) < 256 { c as u8 } else { b'?' }).collect())
}

/// Writes little-endian CDR. Alignment is relative to `buf[0]`.
#[derive(Default, Clone)]
pub struct CdrWriter {
    buf: Vec<u8>,
}

macro_rules! write_prim {
    ($name:ident, $t:ty, $n:expr) => {
        pub fn $name(&mut self, v: $t) {
            self.align($n);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    };
}

impl CdrWriter {
    pub fn new() -> Self {
        CdrWriter { buf: Vec::new() }
    }

    pub fn with_capacity(n: usize) -> Self {
        CdrWriter { buf: Vec::with_capacity(n) }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn as_mut_bytes(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Emit zero padding up to a multiple of `n`.
    pub fn align(&mut self, n: usize) {
        let pad = (n - self.buf.len() % n) % n;
        self.buf.resize(self.buf.len() + pad, 0);
    }

    pub fn write_raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    pub fn write_u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn write_bool(&mut self, v: bool) {
        self.buf.push(v as u8);
    }

    write_prim!(write_i16, i16, 2);
    write_prim!(write_u16, u16, 2);
    write_prim!(write_i32, i32, 4);
    write_prim!(write_u32, u32, 4);
    write_prim!(write_i64, i64, 8);
    write_prim!(write_u64, u64, 8);
    write_prim!(write_f32, f32, 4);
    write_prim!(write_f64, f64, 8);

    pub fn write_len(&mut self, n: usize) {
        self.write_u32(n as u32);
    }

    pub fn write_string(&mut self, s: &str) {
        let b = string_to_latin1(s);
        self.write_u32(b.len() as u32 + 1);
        self.buf.extend_from_slice(&b);
        self.buf.push(0);
    }

    pub fn write_octets(&mut self, b: &[u8]) {
        self.write_u32(b.len() as u32);
        self.buf.extend_from_slice(b);
    }

    /// Write an encapsulation whose content is produced by `f` (alignment restarts at the
    /// byte-order octet).
    pub fn write_encapsulation(&mut self, f: impl FnOnce(&mut CdrWriter)) {
        let mut inner = CdrWriter::new();
        inner.write_u8(1);
        f(&mut inner);
        self.write_octets(&inner.buf);
    }

    pub fn write<T: Encode + ?Sized>(&mut self, v: &T) {
        v.encode(self)
    }

    pub fn write_seq<T: Encode>(&mut self, v: &[T]) {
        self.write_len(v.len());
        for x in v {
            x.encode(self);
        }
    }
}

/// A type with a CDR encoding.
pub trait Encode {
    fn encode(&self, w: &mut CdrWriter);
}

/// A type that can be read from CDR.
pub trait Decode: Sized {
    /// The fewest bytes one value can occupy; used to bound sequence lengths.
    const MIN_SIZE: usize = 1;
    fn decode(r: &mut CdrReader<'_>) -> Result<Self>;
}

macro_rules! prim_codec {
    ($t:ty, $r:ident, $w:ident, $n:expr) => {
        impl Encode for $t {
            fn encode(&self, w: &mut CdrWriter) {
                w.$w(*self)
            }
        }
        impl Decode for $t {
            const MIN_SIZE: usize = $n;
            fn decode(r: &mut CdrReader<'_>) -> Result<Self> {
                r.$r()
            }
        }
    };
}

prim_codec!(u8, read_u8, write_u8, 1);
prim_codec!(bool, read_bool, write_bool, 1);
prim_codec!(i16, read_i16, write_i16, 2);
prim_codec!(u16, read_u16, write_u16, 2);
prim_codec!(i32, read_i32, write_i32, 4);
prim_codec!(u32, read_u32, write_u32, 4);
prim_codec!(i64, read_i64, write_i64, 8);
prim_codec!(u64, read_u64, write_u64, 8);
prim_codec!(f32, read_f32, write_f32, 4);
prim_codec!(f64, read_f64, write_f64, 8);

impl Encode for str {
    fn encode(&self, w: &mut CdrWriter) {
        w.write_string(self)
    }
}

impl Encode for String {
    fn encode(&self, w: &mut CdrWriter) {
        w.write_string(self)
    }
}

impl Decode for String {
    const MIN_SIZE: usize = 4;
    fn decode(r: &mut CdrReader<'_>) -> Result<Self> {
        r.read_string()
    }
}

/// Shared values (configurations kept behind an `Arc` so a reply does not copy them)
/// encode as what they point to.
impl<T: Encode> Encode for std::sync::Arc<T> {
    fn encode(&self, w: &mut CdrWriter) {
        (**self).encode(w)
    }
}

impl<T: Encode> Encode for Vec<T> {
    fn encode(&self, w: &mut CdrWriter) {
        w.write_seq(self)
    }
}

impl<T: Decode> Decode for Vec<T> {
    const MIN_SIZE: usize = 4;
    fn decode(r: &mut CdrReader<'_>) -> Result<Self> {
        r.read_seq()
    }
}

/// Declare a plain IDL struct: the Rust struct plus its CDR encoding (members in order).
#[macro_export]
macro_rules! cdr_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name { $($(#[$fm])* pub $f: $t),* }
        impl $crate::cdr::Encode for $name {
            fn encode(&self, w: &mut $crate::cdr::CdrWriter) {
                $( $crate::cdr::Encode::encode(&self.$f, w); )*
            }
        }
        impl $crate::cdr::Decode for $name {
            fn decode(r: &mut $crate::cdr::CdrReader<'_>) -> $crate::cdr::Result<Self> {
                Ok($name { $( $f: <$t as $crate::cdr::Decode>::decode(r)? ),* })
            }
        }
    };
}

/// Declare an IDL enum (encoded as its ulong ordinal) with its wire values.
#[macro_export]
macro_rules! cdr_enum {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $v:ident = $n:expr),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum $name { $($(#[$vm])* $v = $n),* }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v),*];
            pub fn from_u32(v: u32) -> Option<Self> {
                match v { $($n => Some($name::$v),)* _ => None }
            }
            pub fn name(self) -> &'static str {
                match self { $($name::$v => stringify!($v)),* }
            }
        }
        impl $crate::cdr::Encode for $name {
            fn encode(&self, w: &mut $crate::cdr::CdrWriter) { w.write_u32(*self as u32) }
        }
        impl $crate::cdr::Decode for $name {
            const MIN_SIZE: usize = 4;
            fn decode(r: &mut $crate::cdr::CdrReader<'_>) -> $crate::cdr::Result<Self> {
                let v = r.read_u32()?;
                $name::from_u32(v).ok_or($crate::cdr::CdrError::BadDiscriminant { what: stringify!($name), value: v as i64 })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_counts_from_origin() {
        let mut w = CdrWriter::new();
        w.write_u8(7);
        w.write_u32(0x01020304);
        w.write_u8(1);
        w.write_f64(2.5);
        assert_eq!(w.len(), 24);
        assert_eq!(&w.as_bytes()[..8], &[7, 0, 0, 0, 4, 3, 2, 1]);
        let b = w.into_bytes();
        let mut r = CdrReader::new(&b, 0, true);
        assert_eq!(r.read_u8().unwrap(), 7);
        assert_eq!(r.read_u32().unwrap(), 0x01020304);
        assert_eq!(r.read_u8().unwrap(), 1);
        assert_eq!(r.read_f64().unwrap(), 2.5);
        assert!(r.is_empty());
    }

    #[test]
    fn big_endian_decodes() {
        let b = [0, 0, 0, 5, 0, 0, 0, 2, b'a', 0];
        let mut r = CdrReader::new(&b, 0, false);
        assert_eq!(r.read_u32().unwrap(), 5);
        assert_eq!(r.read_string().unwrap(), "a");
    }

    #[test]
    fn strings_are_latin1_and_nul_terminated() {
        let mut w = CdrWriter::new();
        w.write_string("");
        w.write_string("é");
        assert_eq!(w.as_bytes(), &[1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0xe9, 0]);
        let b = w.into_bytes();
        let mut r = CdrReader::new(&b, 0, true);
        assert_eq!(r.read_string().unwrap(), "");
        assert_eq!(r.read_string().unwrap(), "é");
        let bad = [3, 0, 0, 0, b'a', b'b', b'c'];
        assert!(matches!(CdrReader::new(&bad, 0, true).read_string(), Err(CdrError::BadString { .. })));
    }

    #[test]
    fn lengths_are_checked_before_allocating() {
        // claims 2^32-1 doubles with 4 bytes left
        let b = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        let mut r = CdrReader::new(&b, 0, true);
        assert!(matches!(r.read_seq::<f64>(), Err(CdrError::LengthTooLarge { .. })));
        let mut r = CdrReader::new(&b, 0, true);
        assert!(matches!(r.read_string(), Err(CdrError::LengthTooLarge { .. })));
    }

    #[test]
    fn encapsulation_restarts_alignment() {
        let mut w = CdrWriter::new();
        w.write_u8(9);
        w.write_encapsulation(|e| {
            e.write_u32(1); // at encap offset 4 (after byte order + 3 pad)
        });
        let b = w.into_bytes();
        // 9, pad 3, len 8, [01 00 00 00 01 00 00 00]
        assert_eq!(b, vec![9, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
        let mut r = CdrReader::new(&b, 1, true);
        let mut e = r.read_encapsulation().unwrap();
        assert_eq!(e.read_u32().unwrap(), 1);
    }
}
