//! Wire-level behaviour of the server runtime over real sockets: bad input (garbage, wrong
//! versions, lying lengths, truncated or stalled messages) is answered with MessageError and only
//! that connection closes; unknown objects and operations get system exceptions; idle connections
//! get CloseConnection; connections beyond the limit are closed; shutdown sends CloseConnection.

use std::time::Duration;

use tango::connection::ConnLimits;
use tango::giop::{self, Message, MsgType, ReplyStatus, Version};
use tango::test_device::TestDevice;
use tango::{Server, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(max_message: usize) -> tango::server::RunningServer {
    start_with(ServerOptions { limits: ConnLimits { max_message, ..Default::default() }, ..Default::default() }).await
}

/// A TestDevice server on loopback with `opts`' limits.
async fn start_with(opts: ServerOptions) -> tango::server::RunningServer {
    let opts = ServerOptions {
        instance: "test".into(),
        nodb: true,
        dlist: vec!["test/device/1".into()],
        host: Some("127.0.0.1".into()),
        port: 0,
        ..opts
    };
    Server::new("TestDevice").class(TestDevice::new).start(opts).await.unwrap()
}

/// Read one whole GIOP message.
async fn read_msg(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut h = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut h)).await.expect("timed out").ok()?;
    let hdr = giop::Header::parse(&h).unwrap();
    let mut body = vec![0u8; hdr.body_size as usize];
    s.read_exact(&mut body).await.ok()?;
    let mut m = h.to_vec();
    m.extend(body);
    Some(m)
}

async fn expect_closed(s: &mut TcpStream) {
    let mut b = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await.expect("not closed").unwrap_or(0);
    assert_eq!(n, 0, "connection should be closed");
}

fn ping(version: Version, id: u32) -> Vec<u8> {
    giop::encode_request(version, id, true, b"test/device/1", "ping", |_| {})
}

async fn assert_ping_works(s: &mut TcpStream, version: Version, id: u32) {
    s.write_all(&ping(version, id)).await.unwrap();
    let Message::Reply(r) = giop::decode(read_msg(s).await.unwrap()).unwrap() else { panic!("not a reply") };
    assert_eq!((r.request_id, r.status, r.version), (id, ReplyStatus::NoException as u32, version));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_gets_message_error_and_only_that_connection_closes() {
    let srv = start(1 << 20).await;
    let mut good = TcpStream::connect(srv.addr).await.unwrap();
    assert_ping_works(&mut good, Version::V1_0, 2).await;

    for bad in [
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        b"GIOP\x01\x07\x01\x00\x00\x00\x00\x00".to_vec(), // GIOP 1.7
        b"GIOP\x01\x00\x01\x09\x00\x00\x00\x00".to_vec(), // message type 9
        b"GIOP\x01\x00\x01\x00\x08\x00\x00\x00\xff\xff\xff\x7f\x00\x00\x00\x00".to_vec(), // context count lies
    ] {
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        s.write_all(&bad).await.unwrap();
        let m = read_msg(&mut s).await.expect("a MessageError");
        assert_eq!(giop::Header::parse(&m).unwrap().msg_type, MsgType::MessageError, "for {bad:?}");
        expect_closed(&mut s).await;
    }
    // the well-behaved client never noticed
    assert_ping_works(&mut good, Version::V1_0, 4).await;
    srv.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_message_is_refused_from_its_header() {
    let srv = start(4096).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    let mut big = b"GIOP\x01\x02\x01\x00".to_vec();
    big.extend_from_slice(&1_000_000u32.to_le_bytes());
    s.write_all(&big).await.unwrap(); // no body sent: refused before buffering it
    let m = read_msg(&mut s).await.unwrap();
    assert_eq!(giop::Header::parse(&m).unwrap().msg_type, MsgType::MessageError);
    expect_closed(&mut s).await;
    srv.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_dying_mid_message_leaves_server_serving() {
    let srv = start(1 << 20).await;
    {
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        let p = ping(Version::V1_2, 2);
        s.write_all(&p[..p.len() - 3]).await.unwrap();
    } // dropped mid-message
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    assert_ping_works(&mut s, Version::V1_2, 2).await;
    srv.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_endian_requests_are_served() {
    let srv = start(1 << 20).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    // GIOP 1.0 big-endian `ping` to test/device/1, built by hand
    let mut body = Vec::new();
    body.extend_from_slice(&0u32.to_be_bytes()); // no contexts          (offset 12)
    body.extend_from_slice(&6u32.to_be_bytes()); // request id           (16)
    body.push(1); // response expected                                    (20)
    body.extend_from_slice(&[0, 0, 0]);
    body.extend_from_slice(&13u32.to_be_bytes()); // key length          (24)
    body.extend_from_slice(b"test/device/1"); //                          (28..41)
    body.extend_from_slice(&[0, 0, 0]); // pad to 44
    body.extend_from_slice(&5u32.to_be_bytes());
    body.extend_from_slice(b"ping\0"); //                                 (48..53)
    body.extend_from_slice(&[0, 0, 0]); // pad to 56
    body.extend_from_slice(&0u32.to_be_bytes()); // principal
    let mut m = b"GIOP\x01\x00\x00\x00".to_vec();
    m.extend_from_slice(&(body.len() as u32).to_be_bytes());
    m.extend(body);
    s.write_all(&m).await.unwrap();
    let Message::Reply(r) = giop::decode(read_msg(&mut s).await.unwrap()).unwrap() else { panic!() };
    assert_eq!((r.request_id, r.status), (6, 0));
    srv.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locate_request_answers_here_or_unknown() {
    let srv = start(1 << 20).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    for (key, expect) in [(&b"test/device/1"[..], 1u32), (&b"TEST/DEVICE/1"[..], 1), (&b"no/such/device"[..], 0)] {
        let mut w = tango::cdr::CdrWriter::new();
        w.write_raw(b"GIOP\x01\x00\x01\x03\0\0\0\0");
        w.write_u32(11);
        w.write_octets(key);
        let mut m = w.into_bytes();
        let size = (m.len() - 12) as u32;
        m[8..12].copy_from_slice(&size.to_le_bytes());
        s.write_all(&m).await.unwrap();
        let Message::LocateReply { request_id, status } = giop::decode(read_msg(&mut s).await.unwrap()).unwrap() else { panic!() };
        assert_eq!((request_id, status), (11, expect), "key {key:?}");
    }
    srv.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_sends_close_connection_to_every_client() {
    let srv = start(1 << 20).await;
    let mut a = TcpStream::connect(srv.addr).await.unwrap();
    let mut b = TcpStream::connect(srv.addr).await.unwrap();
    assert_ping_works(&mut a, Version::V1_2, 2).await;
    assert_ping_works(&mut b, Version::V1_0, 2).await;
    let addr = srv.addr;
    srv.shutdown();
    for (s, v) in [(&mut a, 2u8), (&mut b, 0u8)] {
        let m = read_msg(s).await.expect("CloseConnection");
        let h = giop::Header::parse(&m).unwrap();
        assert_eq!((h.msg_type, h.version.0), (MsgType::CloseConnection, v));
        expect_closed(s).await;
    }
    srv.wait().await;
    assert!(TcpStream::connect(addr).await.is_err(), "listener must be closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oneway_requests_get_no_reply() {
    let srv = start(1 << 20).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(&giop::encode_request(Version::V1_2, 2, false, b"test/device/1", "ping", |_| {})).await.unwrap();
    // the next reply on the connection is for request 4, not 2
    assert_ping_works(&mut s, Version::V1_2, 4).await;
    srv.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_and_busy_ones_are_not() {
    let srv = start_with(ServerOptions {
        limits: ConnLimits { idle_timeout: Some(Duration::from_secs(1)), ..Default::default() },
        ..Default::default()
    })
    .await;
    let mut busy = TcpStream::connect(srv.addr).await.unwrap();
    let mut silent = TcpStream::connect(srv.addr).await.unwrap();
    let mut half = TcpStream::connect(srv.addr).await.unwrap();
    // the first 20 bytes of a request, then nothing
    half.write_all(&ping(Version::V1_2, 9)[..20]).await.unwrap();

    // The busy client talks more often than the timeout for three timeouts' worth of time.
    for id in 0..12 {
        assert_ping_works(&mut busy, Version::V1_2, id).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // A connection that never sent anything gets an orderly CloseConnection (clients reconnect
    // from that without an error) ...
    let m = read_msg(&mut silent).await.expect("CloseConnection");
    assert_eq!(giop::Header::parse(&m).unwrap().msg_type, MsgType::CloseConnection);
    expect_closed(&mut silent).await;
    // ... one that stopped in the middle of a message gets MessageError.
    let m = read_msg(&mut half).await.expect("MessageError");
    assert_eq!(giop::Header::parse(&m).unwrap().msg_type, MsgType::MessageError);
    expect_closed(&mut half).await;
    assert_ping_works(&mut busy, Version::V1_2, 99).await;
    srv.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_are_closed_and_the_others_served() {
    let srv = start_with(ServerOptions { limits: ConnLimits { max_connections: 2, ..Default::default() }, ..Default::default() }).await;
    let mut a = TcpStream::connect(srv.addr).await.unwrap();
    let mut b = TcpStream::connect(srv.addr).await.unwrap();
    assert_ping_works(&mut a, Version::V1_2, 1).await;
    assert_ping_works(&mut b, Version::V1_2, 2).await;

    let mut c = TcpStream::connect(srv.addr).await.unwrap();
    let _ = c.write_all(&ping(Version::V1_2, 3)).await;
    expect_closed(&mut c).await;
    assert_ping_works(&mut a, Version::V1_2, 4).await;
    assert_ping_works(&mut b, Version::V1_2, 5).await;

    // A slot frees when a client leaves (once the server has seen the close).
    drop(a);
    let mut served = false;
    for id in 10..60 {
        let mut d = TcpStream::connect(srv.addr).await.unwrap();
        if d.write_all(&ping(Version::V1_2, id)).await.is_ok() {
            if let Some(m) = read_msg(&mut d).await {
                if let Ok(Message::Reply(r)) = giop::decode(m) {
                    assert_eq!(r.request_id, id);
                    served = true;
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "a new connection was never accepted after one closed");
    assert_ping_works(&mut b, Version::V1_2, 6).await;
    srv.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_objects_and_operations_get_system_exceptions_on_an_open_connection() {
    let srv = start(1 << 20).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    for (id, key, op, expected) in [
        (1, &b"no/such/device"[..], "ping", "IDL:omg.org/CORBA/OBJECT_NOT_EXIST:1.0"),
        (2, &b"\xff\x00binary key"[..], "ping", "IDL:omg.org/CORBA/OBJECT_NOT_EXIST:1.0"),
        (3, &b"test/device/1"[..], "no_such_operation", "IDL:omg.org/CORBA/BAD_OPERATION:1.0"),
    ] {
        s.write_all(&giop::encode_request(Version::V1_2, id, true, key, op, |_| {})).await.unwrap();
        let Message::Reply(r) = giop::decode(read_msg(&mut s).await.unwrap()).unwrap() else { panic!("not a reply") };
        assert_eq!((r.request_id, r.status), (id, ReplyStatus::SystemException as u32));
        assert_eq!(r.body().read_string().unwrap(), expected);
    }
    // the same connection goes on being served
    assert_ping_works(&mut s, Version::V1_2, 4).await;
    srv.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_header_then_silence_gets_message_error() {
    let srv = start_with(ServerOptions {
        limits: ConnLimits { idle_timeout: Some(Duration::from_secs(1)), ..Default::default() },
        ..Default::default()
    })
    .await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(b"GIOP\x01").await.unwrap();
    let m = read_msg(&mut s).await.expect("MessageError");
    assert_eq!(giop::Header::parse(&m).unwrap().msg_type, MsgType::MessageError);
    expect_closed(&mut s).await;
    // (a connection kept open meanwhile would itself have been closed as idle: a new one)
    let mut good = TcpStream::connect(srv.addr).await.unwrap();
    assert_ping_works(&mut good, Version::V1_2, 1).await;
    srv.shutdown();
}
