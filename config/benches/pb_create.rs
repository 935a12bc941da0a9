//! Benchmark (not a test): processing-block creation transactions per second
//! against raw etcd puts, on a throwaway etcd started from PATH.
//!
//!     cargo bench -p sdp-config --bench pb_create            # default 2 s per case
//!     BENCH_SECONDS=5 BENCH_CLIENTS=4 cargo bench -p sdp-config --bench pb_create
//!
//! Set TMPDIR=/dev/shm to keep etcd's fsync cost out of the numbers. A PB creation is
//! two round trips (list today's ids, commit) against one for a put, so expect a
//! ratio near 1/2 with one client.

use sdp_config::backend::{KeyRange, Op};
use sdp_config::{Backend, Config, MemoryBackend, ProcessingBlock, Workflow};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn raw_puts(b: Arc<dyn Backend>, secs: f64, tag: usize) -> usize {
    let t0 = Instant::now();
    let mut n = 0;
    while t0.elapsed().as_secs_f64() < secs {
        let op = Op::Put { key: format!("2/bench/{tag}-{n}"), value: "{}".into(), lease: None };
        b.txn(vec![], vec![op]).await.expect("put");
        n += 1;
    }
    n
}

async fn pb_creates(b: Arc<dyn Backend>, secs: f64) -> (usize, usize) {
    let cfg = Config::new(b);
    let wf = Workflow::new("realtime", "bench", "0.1.0");
    let t0 = Instant::now();
    let (mut n, mut passes) = (0, 0);
    while t0.elapsed().as_secs_f64() < secs {
        let mut txn = cfg.txn();
        loop {
            passes += 1;
            let id = txn.new_processing_block_id_on("realtime", "20191121").await.expect("id");
            let pb = ProcessingBlock::new(&id, Value::Null, wf.clone()).expect("pb");
            txn.create_processing_block(&pb).await.expect("create");
            if txn.commit().await.expect("commit") {
                break;
            }
        }
        n += 1;
        if n % 100 == 0 {
            // Keep a realistic day (at most 100 PBs listed per allocation) and stay
            // below the 9999-a-day limit: clear and go on.
            cfg.db().delete("/pb", sdp_config::DeleteOptions { recursive: true, must_exist: false, ..Default::default() }).await.unwrap();
        }
    }
    (n, passes)
}

async fn clear(b: &Arc<dyn Backend>) {
    b.txn(vec![], vec![Op::Delete(KeyRange::Prefix("2/".into()))]).await.unwrap();
}

async fn suite(name: &str, make: impl Fn() -> Arc<dyn Backend>, secs: f64, clients: usize) {
    let b = make();
    let puts = raw_puts(b.clone(), secs, 0).await;
    clear(&b).await;
    let (pbs, passes) = pb_creates(b.clone(), secs).await;
    clear(&b).await;
    println!(
        "{name:8} 1 client : raw puts {:8.0}/s   PB-create txns {:8.0}/s   ratio {:.2}   (passes/txn {:.2})",
        puts as f64 / secs,
        pbs as f64 / secs,
        pbs as f64 / puts.max(1) as f64,
        passes as f64 / pbs.max(1) as f64
    );
    if clients > 1 {
        let t = (0..clients).map(|i| tokio::spawn(raw_puts(make(), secs, i)));
        let mut puts = 0;
        for h in t.collect::<Vec<_>>() {
            puts += h.await.unwrap();
        }
        clear(&b).await;
        let t = (0..clients).map(|_| tokio::spawn(pb_creates(make(), secs)));
        let (mut pbs, mut passes) = (0, 0);
        for h in t.collect::<Vec<_>>() {
            let (n, p) = h.await.unwrap();
            pbs += n;
            passes += p;
        }
        clear(&b).await;
        println!(
            "{name:8} {clients} clients: raw puts {:8.0}/s   PB-create txns {:8.0}/s   ratio {:.2}   (passes/txn {:.2}: conflicts retried)",
            puts as f64 / secs,
            pbs as f64 / secs,
            pbs as f64 / puts.max(1) as f64,
            passes as f64 / pbs.max(1) as f64
        );
    }
}

#[tokio::main]
async fn main() {
    let secs: f64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(2.0);
    let clients: usize = std::env::var("BENCH_CLIENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(4);
    let mem = MemoryBackend::new();
    suite("memory", || Arc::new(mem.clone()) as Arc<dyn Backend>, secs, clients).await;
    let Ok(server) = sdp_config::EtcdServer::start() else {
        eprintln!("no etcd on PATH: etcd benchmark skipped");
        return;
    };
    let mut backends = Vec::new();
    for _ in 0..=clients {
        backends.push(Arc::new(server.connect().await.expect("connect")) as Arc<dyn Backend>);
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    suite("etcd", || backends[next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % backends.len()].clone(), secs, clients).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
}
