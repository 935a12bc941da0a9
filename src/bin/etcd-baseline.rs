//! What etcd itself costs on this machine, measured with the client the SDP uses (the
//! `sdp-config` etcd backend over `etcd-client`), so that config-path latencies can be
//! read as "ours on top of etcd's". One JSON line per measurement (bench/config_path.py
//! runs it against the etcd of the `sdp up` it measures):
//!
//! ```sh
//! target/release/etcd-baseline 127.0.0.1:2379 [N]   # built with the workspace bins
//! target/release/etcd-baseline 127.0.0.1:2379,127.0.0.1:2479,127.0.0.1:2579 [N]   # a cluster
//! ```
//!
//! * `etcd_get_ms`        one single-key read (a linearizable range: a raft round, no disk write)
//! * `etcd_create_ms`     one transaction "create if absent": compare + put (a WAL write + fsync)
//! * `etcd_create_2_ms`   compare + two puts, the shape of Configure's commit (PB + subarray state)
//! * `etcd_watch_ms`      a put until a watch (of the same client) delivers it: what every
//!   component that follows the database (controller, deployer, workflows) waits at least; on
//!   a cluster, the member serving the watch need not be the leader that committed the put
//!
//! Keys are written under `/bench-etcd-baseline/` and deleted afterwards.

use sdp_config::backend::{CmpOp, Compare, KeyRange, Op, Target};
use sdp_config::{Backend, EtcdBackend, EtcdOptions};
use std::time::Instant;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    (v[i.min(v.len() - 1)] * 100.0).round() / 100.0
}

fn report(scenario: &str, mut ms: Vec<f64>) {
    let max = ms.iter().cloned().fold(0.0, f64::max);
    println!(
        "{}",
        serde_json::json!({"label": "config-path", "scenario": scenario, "n": ms.len(), "p50": pct(&mut ms, 50.0),
                           "p90": pct(&mut ms, 90.0), "p99": pct(&mut ms, 99.0), "max": (max * 100.0).round() / 100.0, "target_p50": null})
    );
}

async fn timed<T>(f: impl std::future::Future<Output = sdp_config::Result<T>>) -> f64 {
    let t = Instant::now();
    f.await.expect("etcd request");
    t.elapsed().as_secs_f64() * 1e3
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "127.0.0.1:2379".into());
    let n: usize = args.next().map(|s| s.parse().expect("N: a number")).unwrap_or(200);
    if !endpoint.contains(':') {
        eprintln!("usage: etcd-baseline HOST:PORT[,HOST:PORT...] [N]");
        std::process::exit(2);
    }
    let options = EtcdOptions { host: endpoint, ..Default::default() };
    let etcd = EtcdBackend::connect(&options).await.unwrap_or_else(|e| {
        eprintln!("etcd-baseline: {e}");
        std::process::exit(1);
    });
    let base = "2/bench-etcd-baseline/";
    let create = |key: String, extra: Option<String>| {
        let mut ops = vec![Op::Put { key: key.clone(), value: "x".repeat(300), lease: None }];
        if let Some(k) = extra {
            ops.push(Op::Put { key: k, value: "y".repeat(300), lease: None });
        }
        (vec![Compare::new(KeyRange::Key(key), Target::Version, CmpOp::Equal, 0)], ops)
    };
    let (mut get, mut one, mut two) = (Vec::new(), Vec::new(), Vec::new());
    let warmup = 20;
    for i in 0..warmup + n {
        let (c, o) = create(format!("{base}a{i}"), None);
        let t1 = timed(etcd.txn(c, o)).await;
        let (c, o) = create(format!("{base}b{i}"), Some(format!("{base}state")));
        let t2 = timed(etcd.txn(c, o)).await;
        let t0 = timed(etcd.range(&KeyRange::Key(format!("{base}a{i}")), None, false)).await;
        if i >= warmup {
            get.push(t0);
            one.push(t1);
            two.push(t2);
        }
    }
    // A watch of its own, then one put at a time: from sending the put to the event.
    let mut watch = etcd.watch(&KeyRange::Prefix(format!("{base}w/")), None).await.expect("watch");
    let mut seen = Vec::new();
    for i in 0..warmup + n {
        let t = Instant::now();
        etcd.txn(vec![], vec![Op::Put { key: format!("{base}w/{i}"), value: "x".into(), lease: None }]).await.expect("put");
        loop {
            let batch = watch.next().await.expect("the watch ended").expect("watch event");
            if batch.iter().any(|e| e.kv.key == format!("{base}w/{i}")) {
                break;
            }
        }
        if i >= warmup {
            seen.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    etcd.txn(vec![], vec![Op::Delete(KeyRange::Prefix(base.into()))]).await.expect("clean up");
    report("etcd_get_ms", get);
    report("etcd_create_ms", one);
    report("etcd_create_2_ms", two);
    report("etcd_watch_ms", seen);
}
