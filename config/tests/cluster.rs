//! A three-member etcd cluster on loopback (issue #20): one client given every member keeps
//! working when a member (the leader among them) is killed, fails cleanly while quorum is
//! lost, and works again when it returns; nothing it was told was written is missing.

use sdp_config::{Config, EtcdBackend, EtcdCluster, EtcdServer};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn cluster(dir: &std::path::Path) -> Option<(EtcdCluster, Vec<sdp_config::EtcdServerOptions>)> {
    if sdp_config::server::etcd_binary().is_none() {
        assert!(std::env::var("CI").map_or(true, |v| v.is_empty()), "CI is set but there is no `etcd` on PATH");
        eprintln!("\n\n*** SKIPPING cluster test: no `etcd` on PATH (apt-get install etcd-server) ***\n");
        return None;
    }
    let opts = EtcdCluster::member_options(3, Some(dir), None, None).unwrap();
    Some((EtcdCluster::start_with(&opts).unwrap(), opts))
}

async fn connect(c: &EtcdCluster) -> Config {
    let mut o = c.options();
    o.timeout = Duration::from_secs(2);
    let t0 = Instant::now();
    loop {
        match EtcdBackend::connect(&o).await {
            Ok(b) => return Config::new(Arc::new(b)),
            Err(e) if t0.elapsed() > Duration::from_secs(20) => panic!("no quorum: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Write `/k/<i>` until one succeeds or `limit` passes; returns how many attempts failed.
async fn write(cfg: &Config, i: usize, limit: Duration) -> Result<usize, String> {
    let t0 = Instant::now();
    let mut failures = 0;
    loop {
        match cfg.db().create(&format!("/k/{i:04}"), "x", None).await {
            Ok(()) => return Ok(failures),
            // An attempt that failed may still have been applied (the answer was lost).
            Err(sdp_config::Error::Collision { .. }) => return Ok(failures),
            Err(e @ sdp_config::Error::Connection(_)) => {
                failures += 1;
                if t0.elapsed() > limit {
                    return Err(e.to_string());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_rides_out_member_failures() {
    let dir = TempDir(std::env::temp_dir().join(format!("sdp-cluster-test-{}", std::process::id())));
    let Some((mut c, opts)) = cluster(&dir.0) else { return };
    let cfg = connect(&c).await;
    // A second client watches everything below /k/ across the failures.
    let watcher = connect(&c).await;
    let mut watch = watcher.db().watch("/k/", true, None).await.unwrap();
    let seen = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(Ok(u)) = watch.next().await {
            seen.push(u.path);
            if seen.len() == 80 {
                break;
            }
        }
        seen
    });
    for i in 0..20 {
        assert_eq!(write(&cfg, i, Duration::from_secs(10)).await, Ok(0));
    }
    // One member down (whichever it is, possibly the leader): the others carry on.
    c.members[0].kill();
    for i in 20..40 {
        write(&cfg, i, Duration::from_secs(10)).await.expect("a write succeeds within seconds of losing one member");
    }
    // Two down: no quorum, writes fail (Connection errors, not hangs).
    c.members[1].kill();
    let e = write(&cfg, 40, Duration::from_secs(3)).await.expect_err("no quorum");
    assert!(!e.is_empty());
    // Back: service resumes.
    c.members[0] = EtcdServer::start_with(&opts[0]).unwrap();
    c.members[1] = EtcdServer::start_with(&opts[1]).unwrap();
    for i in 40..60 {
        write(&cfg, i, Duration::from_secs(20)).await.expect("writes succeed again once quorum returns");
    }
    // The third member down too (the other two are back): every member has now died once
    // while the watch was open, so it resumed at least once, wherever it was served.
    c.members[2].kill();
    for i in 60..80 {
        write(&cfg, i, Duration::from_secs(20)).await.expect("a write succeeds with two of three members");
    }
    let keys = cfg.db().list_keys("/k/", 0).await.unwrap();
    let want: Vec<String> = (0..80).map(|i| format!("/k/{i:04}")).collect();
    assert_eq!(keys, want);
    // The watch resumed on a live member from the last revision it delivered: every
    // creation once, in order (whichever member served it when).
    let seen = tokio::time::timeout(Duration::from_secs(20), seen).await.expect("the watch saw all 80").unwrap();
    assert_eq!(seen, want);
    drop(c);
}

/// The members' data, removed however the test ends (after the members: declared first).
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
