//! Property tests: CDR encode→decode round trips of the Tango IDL types, `any` command values,
//! GIOP Request/Reply framing (1.0/1.1/1.2), stringified IORs; and decoders that never panic
//! on arbitrary bytes.

mod common;

use proptest::collection::vec;
use proptest::prelude::*;

use tango::any::{decode_any, encode_any, CmdValue, TypeCode};
use tango::cdr::{CdrReader, CdrWriter, Decode, Encode};
use tango::dispatch::Peer;
use tango::giop::{self, Assembler, FrameSplitter, Message, ReplyStatus, Version};
use tango::idl::*;
use tango::ior::{IiopProfile, Ior, Profile, TaggedComponent};

// ---------------------------------------------------------------------------------------
// strategies
// ---------------------------------------------------------------------------------------

/// IDL strings: ISO-8859-1 without NUL (what travels on the wire).
fn s() -> impl Strategy<Value = String> {
    vec(1u8..=255, 0..12).prop_map(|b| b.into_iter().map(char::from).collect())
}

/// Floats that compare equal to themselves (NaN has its own test).
fn f64s() -> impl Strategy<Value = f64> {
    prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO | prop::num::f64::INFINITE
}
fn f32s() -> impl Strategy<Value = f32> {
    prop::num::f32::NORMAL | prop::num::f32::SUBNORMAL | prop::num::f32::ZERO | prop::num::f32::INFINITE
}

fn state() -> impl Strategy<Value = DevState> {
    prop::sample::select(DevState::ALL)
}
fn quality() -> impl Strategy<Value = AttrQuality> {
    prop::sample::select(AttrQuality::ALL)
}
fn severity() -> impl Strategy<Value = ErrSeverity> {
    prop::sample::select(ErrSeverity::ALL)
}
fn level() -> impl Strategy<Value = DispLevel> {
    prop::sample::select(DispLevel::ALL)
}

const N: usize = 6;

fn dev_error() -> impl Strategy<Value = DevError> {
    (s(), severity(), s(), s()).prop_map(|(reason, severity, desc, origin)| DevError { reason, severity, desc, origin })
}

fn encoded() -> impl Strategy<Value = DevEncoded> {
    (s(), vec(any::<u8>(), 0..16)).prop_map(|(encoded_format, encoded_data)| DevEncoded { encoded_format, encoded_data })
}

fn attr_data() -> impl Strategy<Value = AttrData> {
    prop_oneof![
        vec(any::<bool>(), 0..N).prop_map(AttrData::Bool),
        vec(any::<i16>(), 0..N).prop_map(AttrData::Short),
        vec(any::<i32>(), 0..N).prop_map(AttrData::Long),
        vec(any::<i64>(), 0..N).prop_map(AttrData::Long64),
        vec(f32s(), 0..N).prop_map(AttrData::Float),
        vec(f64s(), 0..N).prop_map(AttrData::Double),
        vec(any::<u8>(), 0..N).prop_map(AttrData::UChar),
        vec(any::<u16>(), 0..N).prop_map(AttrData::UShort),
        vec(any::<u32>(), 0..N).prop_map(AttrData::ULong),
        vec(any::<u64>(), 0..N).prop_map(AttrData::ULong64),
        vec(s(), 0..N).prop_map(AttrData::String),
        vec(state(), 0..N).prop_map(AttrData::State),
        state().prop_map(AttrData::DeviceState),
        vec(encoded(), 0..3).prop_map(AttrData::Encoded),
        Just(AttrData::NoData),
    ]
}

fn time() -> impl Strategy<Value = TimeVal> {
    (any::<i32>(), any::<i32>(), any::<i32>()).prop_map(|(tv_sec, tv_usec, tv_nsec)| TimeVal { tv_sec, tv_usec, tv_nsec })
}
fn dim() -> impl Strategy<Value = AttributeDim> {
    (any::<i32>(), any::<i32>()).prop_map(|(dim_x, dim_y)| AttributeDim { dim_x, dim_y })
}

fn value_5() -> impl Strategy<Value = AttributeValue_5> {
    (attr_data(), quality(), prop::sample::select(AttrDataFormat::ALL), any::<i32>(), time(), s(), dim(), dim(), vec(dev_error(), 0..3))
        .prop_map(|(value, quality, data_format, data_type, time, name, r_dim, w_dim, err_list)| AttributeValue_5 {
            value,
            quality,
            data_format,
            data_type,
            time,
            name,
            r_dim,
            w_dim,
            err_list,
        })
}

fn value_4() -> impl Strategy<Value = AttributeValue_4> {
    value_5().prop_map(AttributeValue_4::from)
}

fn strings() -> impl Strategy<Value = Vec<String>> {
    vec(s(), 0..3)
}

fn config_5() -> impl Strategy<Value = AttributeConfig_5> {
    let head = (
        s(),
        prop::sample::select(AttrWriteType::ALL),
        prop::sample::select(AttrDataFormat::ALL),
        any::<i32>(),
        any::<bool>(),
        any::<bool>(),
        any::<i32>(),
        any::<i32>(),
    );
    let texts = (s(), s(), s(), s(), s(), s(), s(), s(), s(), level(), s(), strings());
    let alarm = (s(), s(), s(), s(), s(), s(), strings());
    let events = (s(), s(), strings(), s(), strings(), s(), s(), s(), strings());
    (head, texts, alarm, events, strings(), strings()).prop_map(|(h, t, a, e, extensions, sys_extensions)| AttributeConfig_5 {
        name: h.0,
        writable: h.1,
        data_format: h.2,
        data_type: h.3,
        memorized: h.4,
        mem_init: h.5,
        max_dim_x: h.6,
        max_dim_y: h.7,
        description: t.0,
        label: t.1,
        unit: t.2,
        standard_unit: t.3,
        display_unit: t.4,
        format: t.5,
        min_value: t.6,
        max_value: t.7,
        writable_attr_name: t.8,
        level: t.9,
        root_attr_name: t.10,
        enum_labels: t.11,
        att_alarm: AttributeAlarm {
            min_alarm: a.0,
            max_alarm: a.1,
            min_warning: a.2,
            max_warning: a.3,
            delta_t: a.4,
            delta_val: a.5,
            extensions: a.6,
        },
        event_prop: EventProperties {
            ch_event: ChangeEventProp { rel_change: e.0, abs_change: e.1, extensions: e.2 },
            per_event: PeriodicEventProp { period: e.3, extensions: e.4 },
            arch_event: ArchiveEventProp { rel_change: e.5, abs_change: e.6, period: e.7, extensions: e.8 },
        },
        extensions,
        sys_extensions,
    })
}

fn cmd_info_2() -> impl Strategy<Value = DevCmdInfo_2> {
    (s(), level(), any::<i32>(), any::<i32>(), any::<i32>(), s(), s()).prop_map(
        |(cmd_name, level, cmd_tag, in_type, out_type, in_type_desc, out_type_desc)| DevCmdInfo_2 {
            cmd_name,
            level,
            cmd_tag,
            in_type,
            out_type,
            in_type_desc,
            out_type_desc,
        },
    )
}

fn clnt_ident() -> impl Strategy<Value = ClntIdent> {
    prop_oneof![
        any::<u32>().prop_map(ClntIdent::Cpp),
        (s(), any::<[u64; 2]>()).prop_map(|(main_class, uuid)| ClntIdent::Java { main_class, uuid }),
        (any::<u32>(), s(), s()).prop_map(|(pid, trace_parent, trace_state)| ClntIdent::Cpp6 { pid, trace_parent, trace_state }),
        (s(), any::<[u64; 2]>(), s(), s()).prop_map(|(main_class, uuid, trace_parent, trace_state)| ClntIdent::Java6 {
            main_class,
            uuid,
            trace_parent,
            trace_state
        }),
    ]
}

/// Every `CmdValue` variant.
fn cmd_value() -> impl Strategy<Value = CmdValue> {
    prop_oneof![
        Just(CmdValue::Void),
        any::<bool>().prop_map(CmdValue::Boolean),
        any::<i16>().prop_map(CmdValue::Short),
        any::<i32>().prop_map(CmdValue::Long),
        f32s().prop_map(CmdValue::Float),
        f64s().prop_map(CmdValue::Double),
        any::<u16>().prop_map(CmdValue::UShort),
        any::<u32>().prop_map(CmdValue::ULong),
        s().prop_map(CmdValue::String),
        vec(any::<u8>(), 0..N).prop_map(CmdValue::CharArray),
        vec(any::<i16>(), 0..N).prop_map(CmdValue::ShortArray),
        vec(any::<i32>(), 0..N).prop_map(CmdValue::LongArray),
        vec(f32s(), 0..N).prop_map(CmdValue::FloatArray),
        vec(f64s(), 0..N).prop_map(CmdValue::DoubleArray),
        vec(any::<u16>(), 0..N).prop_map(CmdValue::UShortArray),
        vec(any::<u32>(), 0..N).prop_map(CmdValue::ULongArray),
        vec(s(), 0..N).prop_map(CmdValue::StringArray),
        (vec(any::<i32>(), 0..N), vec(s(), 0..N)).prop_map(|(l, s)| CmdValue::LongStringArray(l, s)),
        (vec(f64s(), 0..N), vec(s(), 0..N)).prop_map(|(d, s)| CmdValue::DoubleStringArray(d, s)),
        state().prop_map(CmdValue::State),
        vec(any::<bool>(), 0..N).prop_map(CmdValue::BooleanArray),
        any::<u8>().prop_map(CmdValue::UChar),
        any::<i64>().prop_map(CmdValue::Long64),
        any::<u64>().prop_map(CmdValue::ULong64),
        vec(any::<i64>(), 0..N).prop_map(CmdValue::Long64Array),
        vec(any::<u64>(), 0..N).prop_map(CmdValue::ULong64Array),
        encoded().prop_map(CmdValue::Encoded),
        vec(state(), 0..N).prop_map(CmdValue::StateArray),
    ]
}

fn version() -> impl Strategy<Value = Version> {
    prop::sample::select(vec![Version::V1_0, Version::V1_1, Version::V1_2])
}

fn ior() -> impl Strategy<Value = Ior> {
    let component = (any::<u32>(), vec(any::<u8>(), 0..12)).prop_map(|(tag, data)| TaggedComponent { tag, data });
    let iiop = (0u8..=2, s(), any::<u16>(), vec(any::<u8>(), 0..24), vec(component, 0..3)).prop_map(
        |(minor, host, port, object_key, components)| {
            Profile::Iiop(IiopProfile {
                major: 1,
                minor,
                host,
                port,
                object_key,
                // IIOP 1.0 profiles have no components
                components: if minor == 0 { vec![] } else { components },
            })
        },
    );
    let other = (1u32..=u32::MAX, vec(any::<u8>(), 0..16)).prop_map(|(tag, data)| Profile::Other { tag, data });
    (s(), vec(prop_oneof![3 => iiop, 1 => other], 0..3)).prop_map(|(type_id, profiles)| Ior { type_id, profiles })
}

// ---------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------

/// Encode after `shift` bytes (to move the alignment), decode from there, check that the
/// whole encoding was consumed.
fn roundtrip<T: Encode + Decode + PartialEq + std::fmt::Debug>(v: &T, shift: usize) -> Result<(), TestCaseError> {
    let mut w = CdrWriter::new();
    for _ in 0..shift {
        w.write_u8(0xa5);
    }
    w.write(v);
    let bytes = w.into_bytes();
    let mut r = CdrReader::new(&bytes, shift, true);
    let back: T = r.read().map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
    prop_assert_eq!(&back, v);
    prop_assert_eq!(r.remaining(), 0);
    Ok(())
}

fn dispatcher() -> tango::dispatch::Dispatcher {
    common::dispatcher()
}

const OPERATIONS: &[&str] = &[
    "_is_a",
    "black_box",
    "command_query",
    "command_query_2",
    "command_inout",
    "command_inout_2",
    "command_inout_4",
    "read_attributes_3",
    "read_attributes_4",
    "read_attributes_5",
    "write_attributes_4",
    "write_read_attributes_4",
    "write_read_attributes_5",
    "get_attribute_config_3",
    "get_attribute_config_5",
    "set_attribute_config_5",
    "read_attribute_history_5",
    "command_inout_history_4",
    "info",
    "ping",
];

// ---------------------------------------------------------------------------------------
// round trips
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn attribute_value_5_roundtrip(v in value_5(), shift in 0usize..8) {
        roundtrip(&v, shift)?;
    }

    #[test]
    fn attribute_value_4_roundtrip(v in value_4(), shift in 0usize..8) {
        roundtrip(&v, shift)?;
    }

    #[test]
    fn attribute_values_seq_roundtrip(v in vec(value_5(), 0..4)) {
        roundtrip(&v, 0)?;
    }

    #[test]
    fn attribute_config_5_roundtrip(v in config_5(), shift in 0usize..8) {
        roundtrip(&v, shift)?;
    }

    #[test]
    fn dev_error_list_roundtrip(v in vec(dev_error(), 0..5), shift in 0usize..8) {
        roundtrip(&v, shift)?;
    }

    #[test]
    fn dev_cmd_info_2_roundtrip(v in vec(cmd_info_2(), 0..5), shift in 0usize..8) {
        roundtrip(&v, shift)?;
        let v1: Vec<DevCmdInfo> = v.iter().map(DevCmdInfo::from).collect();
        roundtrip(&v1, shift)?;
    }

    #[test]
    fn dev_info_roundtrip(a in s(), b in s(), c in s(), n in any::<i32>(), d in s(), e in s()) {
        roundtrip(&DevInfo { dev_class: a.clone(), server_id: b.clone(), server_host: c.clone(), server_version: n, doc_url: d.clone() }, 3)?;
        roundtrip(&DevInfo_3 { dev_class: a, server_id: b, server_host: c, server_version: n, doc_url: d, dev_type: e }, 1)?;
    }

    #[test]
    fn clnt_ident_roundtrip(v in clnt_ident(), shift in 0usize..8) {
        roundtrip(&v, shift)?;
    }

    #[test]
    fn cmd_value_any_roundtrip(v in cmd_value(), shift in 0usize..8) {
        let mut w = CdrWriter::new();
        for _ in 0..shift {
            w.write_u8(0);
        }
        encode_any(&mut w, &v);
        let bytes = w.into_bytes();
        let mut r = CdrReader::new(&bytes, shift, true);
        let back = decode_any(&mut r).map_err(|e| TestCaseError::fail(format!("{v:?}: {e}")))?;
        prop_assert_eq!(&back, &v);
        prop_assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn giop_request_roundtrip(
        ver in version(), id in any::<u32>(), resp in any::<bool>(), key in vec(any::<u8>(), 0..32),
        op in "[a-z_]{1,24}", body in vec(any::<u32>(), 0..8),
    ) {
        let bytes = giop::encode_request(ver, id, resp, &key, &op, |w| w.write_seq(&body));
        let Message::Request(req) = giop::decode(bytes).map_err(|e| TestCaseError::fail(e.to_string()))? else {
            return Err(TestCaseError::fail("not a request"));
        };
        prop_assert_eq!(req.version, ver);
        prop_assert_eq!(req.request_id, id);
        prop_assert_eq!(req.response_expected, resp);
        prop_assert_eq!(req.object_key(), Some(&key[..]));
        prop_assert_eq!(&req.operation, &op);
        let mut r = req.body();
        prop_assert_eq!(r.read_seq::<u32>().unwrap(), body);
        prop_assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn giop_reply_roundtrip(
        ver in version(), id in any::<u32>(), status in 0usize..3, body in vec(any::<u64>(), 0..8), text in s(),
    ) {
        let st = [ReplyStatus::NoException, ReplyStatus::UserException, ReplyStatus::SystemException][status];
        let bytes = giop::encode_reply(ver, id, st, |w| { w.write_string(&text); w.write_seq(&body) });
        // FrameSplitter sees exactly one whole message, Assembler passes it through
        prop_assert_eq!(FrameSplitter::new(1 << 20).complete_len(&bytes).unwrap(), Some(bytes.len()));
        let bytes = Assembler::new(1 << 20).push(bytes).unwrap().unwrap();
        let Message::Reply(rep) = giop::decode(bytes).map_err(|e| TestCaseError::fail(e.to_string()))? else {
            return Err(TestCaseError::fail("not a reply"));
        };
        prop_assert_eq!(rep.version, ver);
        prop_assert_eq!(rep.request_id, id);
        prop_assert_eq!(rep.status, st as u32);
        let mut r = rep.body();
        prop_assert_eq!(r.read_string().unwrap(), text);
        prop_assert_eq!(r.read_seq::<u64>().unwrap(), body);
        prop_assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn ior_string_roundtrip(ior in ior()) {
        let text = ior.to_string();
        prop_assert!(text.starts_with("IOR:"));
        prop_assert_eq!(Ior::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?, ior.clone());
        prop_assert_eq!(Ior::parse(&text.to_lowercase().replacen("ior:", "IOR:", 1)).unwrap(), ior);
    }

    #[test]
    fn typecode_roundtrip(v in cmd_value()) {
        let tc = tango::any::typecode_for(v.arg_type());
        let mut w = CdrWriter::new();
        tc.encode(&mut w);
        let bytes = w.into_bytes();
        let mut r = CdrReader::new(&bytes, 0, true);
        prop_assert_eq!(TypeCode::decode(&mut r).unwrap(), tc);
        prop_assert_eq!(r.remaining(), 0);
    }
}

#[test]
fn nan_roundtrips_bit_for_bit() {
    for bits in [f64::NAN.to_bits(), 0x7ff0_0000_0000_0001, 0xfff8_0000_0000_0000] {
        let v = CmdValue::DoubleArray(vec![f64::from_bits(bits)]);
        let mut w = CdrWriter::new();
        encode_any(&mut w, &v);
        let bytes = w.into_bytes();
        let CmdValue::DoubleArray(back) = decode_any(&mut CdrReader::new(&bytes, 0, true)).unwrap() else { panic!() };
        assert_eq!(back[0].to_bits(), bits);
    }
    let mut w = CdrWriter::new();
    w.write(&AttrData::Float(vec![f32::NAN]));
    let bytes = w.into_bytes();
    let AttrData::Float(back) = CdrReader::new(&bytes, 0, true).read::<AttrData>().unwrap() else { panic!() };
    assert!(back[0].is_nan());
}

// ---------------------------------------------------------------------------------------
// arbitrary bytes never panic
// ---------------------------------------------------------------------------------------

/// A GIOP header with a correct size for `body`, so the decoders get past the header.
fn with_header(minor: u8, flags: u8, msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut b = b"GIOP".to_vec();
    b.extend([1, minor, flags, msg_type]);
    let n = body.len() as u32;
    b.extend(if flags & 1 == 1 { n.to_le_bytes() } else { n.to_be_bytes() });
    b.extend_from_slice(body);
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in vec(any::<u8>(), 0..256)) {
        let _ = giop::decode(bytes.clone());
        let _ = FrameSplitter::new(1 << 16).complete_len(&bytes);
        let _ = Assembler::new(1 << 16).push(bytes.clone());
        for le in [false, true] {
            let _ = decode_any(&mut CdrReader::new(&bytes, 0, le));
            let _ = TypeCode::decode(&mut CdrReader::new(&bytes, 0, le));
            let _ = Ior::decode_from(&mut CdrReader::new(&bytes, 0, le));
            let _ = CdrReader::new(&bytes, 0, le).read::<AttributeValue_5>();
            let _ = CdrReader::new(&bytes, 0, le).read::<AttributeConfig_5>();
            let _ = CdrReader::new(&bytes, 0, le).read::<ClntIdent>();
        }
        let _ = Ior::parse(&format!("IOR:{}", hex::encode(&bytes)));
        let _ = Ior::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn framed_garbage_never_panics(
        minor in 0u8..=3, flags in 0u8..4, msg_type in 0u8..9, body in vec(any::<u8>(), 0..200),
        more in vec(vec(any::<u8>(), 0..64), 0..3),
    ) {
        let msg = with_header(minor, flags, msg_type, &body);
        let _ = giop::decode(msg.clone());
        let mut asm = Assembler::new(1 << 16);
        let mut outs = vec![asm.push(msg)];
        for (i, m) in more.iter().enumerate() {
            // follow-up fragments (type 7), with or without "more fragments"
            outs.push(asm.push(with_header(minor, flags | if i + 1 < more.len() { 2 } else { 0 }, 7, m)));
        }
        for whole in outs.into_iter().flatten().flatten() {
            let _ = giop::decode(whole);
        }
    }

    /// Valid request framing with an arbitrary body for every operation: the dispatcher
    /// decodes the arguments and must answer (or refuse) without panicking.
    #[test]
    fn dispatcher_never_panics_on_arbitrary_arguments(
        ver in version(), op in prop::sample::select(OPERATIONS), body in vec(any::<u8>(), 0..160),
        admin in any::<bool>(),
    ) {
        let key: &[u8] = if admin { common::ADMIN.as_bytes() } else { common::DEVICE.as_bytes() };
        let bytes = giop::encode_request(ver, 7, true, key, op, |w| w.write_raw(&body));
        let Message::Request(req) = giop::decode(bytes).unwrap() else { unreachable!() };
        let d = dispatcher();
        if let Some(reply) = d.handle(&req, &Peer::default()) {
            prop_assert!(matches!(giop::decode(reply), Ok(Message::Reply(_))));
        }
    }
}
