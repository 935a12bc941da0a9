//! GIOP load generator: many connections, pipelined `read_attributes_5`, to find a server's
//! own ceiling (a Python client saturates long before our server does).
//!
//! `tango-loadgen HOST:PORT DEVICE ATTRIBUTE [--connections N] [--pipeline D] [--seconds S]`
//! prints one JSON line: reads/s, errors, connections, pipeline depth.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tango::giop::{self, FrameSplitter, Message, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn request(id: u32, device: &str, attr: &str) -> Vec<u8> {
    giop::encode_request(Version::V1_2, id, true, device.to_ascii_lowercase().as_bytes(), "read_attributes_5", |w| {
        w.write_seq(&[attr.to_string()]);
        w.write_u32(0); // DevSource DEV
        w.write_u32(0); // ClntIdent CPP
        w.write_u32(std::process::id());
    })
}

async fn connection(addr: String, device: String, attr: String, depth: usize, until: Instant, ok: Arc<AtomicU64>, err: Arc<AtomicU64>) {
    let Ok(mut s) = TcpStream::connect(&addr).await else {
        err.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let _ = s.set_nodelay(true);
    let mut id = 0u32;
    let mut batch = Vec::new();
    for _ in 0..depth {
        id += 2;
        batch.extend(request(id, &device, &attr));
    }
    if s.write_all(&batch).await.is_err() {
        return;
    }
    let splitter = FrameSplitter::new(16 << 20);
    let mut buf = Vec::with_capacity(64 << 10);
    let mut chunk = vec![0u8; 64 << 10];
    let mut outstanding = depth;
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
            if Instant::now() < until {
                id += 2;
                out.extend(request(id, &device, &attr));
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
    let usage = "usage: tango-loadgen HOST:PORT DEVICE ATTRIBUTE [--connections N] [--pipeline D] [--seconds S]";
    if args.len() < 3 {
        eprintln!("{usage}");
        std::process::exit(2);
    }
    let (mut conns, mut depth, mut secs) = (16usize, 8usize, 5.0f64);
    let mut it = args[3..].iter();
    while let Some(a) = it.next() {
        let v = it.next().and_then(|v| v.parse::<f64>().ok()).unwrap_or_else(|| {
            eprintln!("{a} needs a number; {usage}");
            std::process::exit(2)
        });
        match a.as_str() {
            "--connections" => conns = v as usize,
            "--pipeline" => depth = v as usize,
            "--seconds" => secs = v,
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
        .map(|_| tokio::spawn(connection(args[0].clone(), args[1].clone(), args[2].clone(), depth, until, ok.clone(), err.clone())))
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let n = ok.load(Ordering::Relaxed);
    println!(
        "{{\"label\": \"tango-loadgen\", \"scenario\": \"read_pipelined\", \"connections\": {conns}, \"pipeline\": {depth}, \"reads\": {n}, \"errors\": {}, \"seconds\": {elapsed:.2}, \"reads_per_s\": {:.0}}}",
        err.load(Ordering::Relaxed),
        n as f64 / elapsed
    );
}
