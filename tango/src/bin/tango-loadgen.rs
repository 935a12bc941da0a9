//! GIOP load generator: many connections, pipelined `read_attributes_5`, to find a server's
//! own ceiling (a Python client saturates long before our server does).
//!
//! `tango-loadgen HOST:PORT DEVICE ATTRIBUTE [--connections N] [--pipeline D] [--seconds S]
//!  [--requests R] [--mixed]` prints one JSON line: requests/s, errors, connections, pipeline.
//! `--requests R`: each connection sends exactly R requests (instead of running for S seconds).
//! `--mixed`: requests cycle through read_attributes_5, write_attributes_4 (the attribute must
//! be a writable DevDouble) and ping. "reads" in the output then counts every successful request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tango::giop::{self, FrameSplitter, Message, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn request(id: u32, device: &str, attr: &str, mixed: bool) -> Vec<u8> {
    let key = device.to_ascii_lowercase();
    let ident = |w: &mut tango::cdr::CdrWriter| {
        w.write_u32(0); // ClntIdent CPP
        w.write_u32(std::process::id());
    };
    match if mixed { (id / 2) % 3 } else { 0 } {
        0 => giop::encode_request(Version::V1_2, id, true, key.as_bytes(), "read_attributes_5", |w| {
            w.write_seq(&[attr.to_string()]);
            w.write_u32(0); // DevSource DEV
            ident(w);
        }),
        1 => giop::encode_request(Version::V1_2, id, true, key.as_bytes(), "write_attributes_4", |w| {
            let v = tango::idl::AttributeValue_4 {
                value: tango::idl::AttrData::Double(vec![id as f64]),
                data_format: tango::idl::AttrDataFormat::SCALAR,
                name: attr.to_string(),
                w_dim: tango::idl::AttributeDim { dim_x: 1, dim_y: 0 },
                ..Default::default()
            };
            w.write_seq(&[v]);
            ident(w);
        }),
        _ => giop::encode_request(Version::V1_2, id, true, key.as_bytes(), "ping", |_| {}),
    }
}

#[allow(clippy::too_many_arguments)]
async fn connection(
    addr: String,
    device: String,
    attr: String,
    depth: usize,
    until: Instant,
    budget: Option<u64>,
    mixed: bool,
    ok: Arc<AtomicU64>,
    err: Arc<AtomicU64>,
) {
    let Ok(mut s) = TcpStream::connect(&addr).await else {
        err.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let _ = s.set_nodelay(true);
    let mut id = 0u32;
    let mut sent = 0u64;
    let more = |sent: u64| match budget {
        Some(b) => sent < b,
        None => Instant::now() < until,
    };
    let mut batch = Vec::new();
    for _ in 0..depth {
        if !more(sent) {
            break;
        }
        id += 2;
        sent += 1;
        batch.extend(request(id, &device, &attr, mixed));
    }
    let mut outstanding = sent as usize;
    if s.write_all(&batch).await.is_err() {
        return;
    }
    let splitter = FrameSplitter::new(16 << 20);
    let mut buf = Vec::with_capacity(64 << 10);
    let mut chunk = vec![0u8; 64 << 10];
    while outstanding > 0 {
        let n = match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut out = Vec::new();
        while let Ok(Some(len)) = splitter.complete_len(&buf) {
            let msg: Vec<u8> = buf.drain(..len).collect();
            outstanding -= 1;
            match giop::decode(msg) {
                Ok(Message::Reply(r)) if r.status == 0 => ok.fetch_add(1, Ordering::Relaxed),
                _ => err.fetch_add(1, Ordering::Relaxed),
            };
            if more(sent) {
                id += 2;
                sent += 1;
                out.extend(request(id, &device, &attr, mixed));
                outstanding += 1;
            }
        }
        if !out.is_empty() && s.write_all(&out).await.is_err() {
            return;
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: tango-loadgen HOST:PORT DEVICE ATTRIBUTE [--connections N] [--pipeline D] [--seconds S] [--requests R] [--mixed]";
    if args.len() < 3 {
        eprintln!("{usage}");
        std::process::exit(2);
    }
    let (mut conns, mut depth, mut secs) = (16usize, 8usize, 5.0f64);
    let (mut budget, mut mixed) = (None, false);
    let mut it = args[3..].iter();
    while let Some(a) = it.next() {
        if a == "--mixed" {
            mixed = true;
            continue;
        }
        let v = it.next().and_then(|v| v.parse::<f64>().ok()).unwrap_or_else(|| {
            eprintln!("{a} needs a number; {usage}");
            std::process::exit(2)
        });
        match a.as_str() {
            "--connections" => conns = v as usize,
            "--pipeline" => depth = v as usize,
            "--seconds" => secs = v,
            "--requests" => budget = Some(v as u64),
            _ => {
                eprintln!("unknown option {a}; {usage}");
                std::process::exit(2)
            }
        }
    }
    let (ok, err) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..conns)
        .map(|_| {
            tokio::spawn(connection(
                args[0].clone(),
                args[1].clone(),
                args[2].clone(),
                depth,
                until,
                budget,
                mixed,
                ok.clone(),
                err.clone(),
            ))
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let n = ok.load(Ordering::Relaxed);
    println!(
        "{{\"label\": \"tango-loadgen\", \"scenario\": \"{}\", \"connections\": {conns}, \"pipeline\": {depth}, \"reads\": {n}, \"errors\": {}, \"seconds\": {elapsed:.2}, \"reads_per_s\": {:.0}}}",
        if mixed { "mixed_pipelined" } else { "read_pipelined" },
        err.load(Ordering::Relaxed),
        n as f64 / elapsed
    );
}
