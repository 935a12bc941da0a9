//! Backend conformance suite (scenarios C7–C23 of sdp-acceptance-scenarios.md, plus
//! concurrency, lease expiry and size limits). Every scenario runs twice: against
//! the memory backend and against a real etcd started from PATH for the test.

use sdp_config::backend::{KeyRange, Op};
use sdp_config::{
    Backend, Config, DeleteOptions, Dependency, Deployment, EbState, EbStatus, Error, MemoryBackend, PbLayout, ProcessingBlock, Recurse,
    ScanRecord, Workflow,
};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Two clients on one store, plus the etcd process when there is one.
struct H {
    a: Config,
    b: Config,
    raw: Arc<dyn Backend>,
    _server: Option<sdp_config::EtcdServer>,
}

fn memory_harness() -> H {
    let m = MemoryBackend::new();
    let raw: Arc<dyn Backend> = Arc::new(m.clone());
    H { a: Config::new(raw.clone()), b: Config::new(Arc::new(m)), raw, _server: None }
}

async fn etcd_harness() -> Option<H> {
    if sdp_config::server::etcd_binary().is_none() {
        // In CI a missing etcd is a broken setup, not a reason to skip.
        assert!(
            std::env::var("CI").map_or(true, |v| v.is_empty()),
            "CI is set but there is no `etcd` on PATH (apt-get install etcd-server)"
        );
        eprintln!("\n\n*** SKIPPING etcd conformance test: no `etcd` on PATH (apt-get install etcd-server) ***\n");
        return None;
    }
    let server = sdp_config::EtcdServer::start().expect("start etcd");
    let a: Arc<dyn Backend> = Arc::new(server.connect().await.expect("connect a"));
    let b: Arc<dyn Backend> = Arc::new(server.connect().await.expect("connect b"));
    Some(H { a: Config::new(a.clone()), b: Config::new(b), raw: a, _server: Some(server) })
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let h = super::memory_harness();
                    super::$name(&h).await;
                }
            )*
        }
        mod etcd {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(h) = super::etcd_harness().await else { return };
                    super::$name(&h).await;
                }
            )*
        }
    };
}

conformance!(
    c7_path_validation,
    c8_create_update_revisions,
    c9_listing,
    c10_leases,
    lease_expires_without_keep_alive,
    c11_delete_prefix_recursive,
    c12_raw_watch,
    c13_transaction_basics,
    c14_snapshot_isolation_and_retry,
    c15_transactional_listing,
    c16_loop_and_wait,
    c17_watch_bookkeeping,
    c18_retry_limit,
    c19_processing_block_crud,
    c20_ownership,
    c21_pb_state,
    c22_id_allocation_reuses_gaps,
    c23_stored_key_encoding,
    concurrent_allocation_has_no_duplicates,
    oversized_transaction_fails_clearly,
    deployments_and_device_state,
    allocation_scales_past_txn_limit,
    c24_prefetching_listing,
    c25_writes_without_reads,
    component_liveness,
    deployment_ownership,
    delete_tree_of_any_size,
    listing_larger_than_a_grpc_message,
    execution_block_with_its_pbs,
    execution_block_duplicates_write_nothing,
    execution_block_end,
    forked_transaction_starts_from_the_snapshot,
);

fn msg<T>(r: Result<T, Error>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

async fn c7_path_validation(h: &H) {
    let db = h.a.db();
    assert_eq!(msg(db.create("", "x", None).await), "Path must start with /!");
    assert_eq!(msg(db.create("foo", "x", None).await), "Path must start with /!");
    let trailing = "Path should not have a trailing '/'!";
    assert_eq!(msg(db.create("/c7/", "x", None).await), trailing);
    assert_eq!(msg(db.update("/c7/", "x", None).await), trailing);
    assert_eq!(msg(db.get("/c7/", None).await), trailing);
    assert_eq!(msg(db.watch("/c7/", false, None).await), trailing);
    assert!(db.watch("/c7/", true, None).await.is_ok());
    let mut txn = h.a.txn();
    assert_eq!(msg(txn.get("/c7/").await), trailing);
    // Nothing was written by any of the failed calls.
    assert!(db.list_keys("/", 32).await.unwrap().is_empty());
}

async fn c8_create_update_revisions(h: &H) {
    let db = h.a.db();
    let k = "/c8/key";
    db.create(k, "foo", None).await.unwrap();
    let e = db.create(k, "foo2", None).await.unwrap_err();
    assert!(matches!(e, Error::Collision { .. }));
    assert_eq!(e.to_string(), "Cannot create /c8/key, as it already exists!");
    let (v, r1) = db.get(k, None).await.unwrap();
    assert_eq!(v.as_deref(), Some("foo"));
    db.update(k, "bar", Some(r1)).await.unwrap();
    let (v, r2) = db.get(k, None).await.unwrap();
    assert_eq!(v.as_deref(), Some("bar"));
    assert_eq!(r2.mod_revision, r1.mod_revision + 1);
    assert!(r2.revision > r1.revision);
    let e = db.update(k, "baz", Some(r1)).await.unwrap_err();
    assert!(matches!(e, Error::Vanished { .. }));
    assert_eq!(e.to_string(), "Cannot update /c8/key, as it does not exist!");
    assert_eq!(db.get(k, None).await.unwrap().0.as_deref(), Some("bar"));
    assert_eq!(db.get(k, Some(r1.revision)).await.unwrap().0.as_deref(), Some("foo"));
    db.delete(k, DeleteOptions::default()).await.unwrap();
    assert_eq!(msg(db.delete(k, DeleteOptions::default()).await), "Cannot delete /c8/key, as it does not exist!");
    assert_eq!(msg(db.update("/c8/nope", "x", None).await), "Cannot update /c8/nope, as it does not exist!");
}

async fn c9_listing(h: &H) {
    let db = h.a.db();
    let k = "/c9";
    for s in ["a", "ab", "b", "ax", "ab/c", "a/d", "a/d/x"] {
        db.create(&format!("{k}/{s}"), "v", None).await.unwrap();
    }
    let l = |v: &[&str]| v.iter().map(|s| format!("{k}{s}")).collect::<Vec<_>>();
    let ls = |p: String, r: Recurse| async move { db.list_keys(&p, r).await.unwrap() };
    assert_eq!(ls(format!("{k}/"), 0.into()).await, l(&["/a", "/ab", "/ax", "/b"]));
    assert_eq!(ls(k.to_string(), 0.into()).await, Vec::<String>::new());
    assert_eq!(ls(format!("{k}/a"), 0.into()).await, l(&["/a", "/ab", "/ax"]));
    assert_eq!(ls(format!("{k}/b"), 0.into()).await, l(&["/b"]));
    assert_eq!(ls(format!("{k}/a/"), 0.into()).await, l(&["/a/d"]));
    assert_eq!(ls(format!("{k}/ab/"), 0.into()).await, l(&["/ab/c"]));
    assert_eq!(ls(format!("{k}/ab"), 0.into()).await, l(&["/ab"]));
    assert_eq!(ls(k.to_string(), 1.into()).await, l(&["/a", "/ab", "/ax", "/b"]));
    assert_eq!(ls(k.to_string(), [1].into()).await, l(&["/a", "/ab", "/ax", "/b"]));
    let two = l(&["/a", "/a/d", "/ab", "/ab/c", "/ax", "/b"]);
    assert_eq!(ls(k.to_string(), 2.into()).await, two);
    assert_eq!(ls(k.to_string(), [2].into()).await, l(&["/a/d", "/ab/c"]));
    assert_eq!(ls(format!("{k}/"), 1.into()).await, two);
    let three = l(&["/a", "/a/d", "/a/d/x", "/ab", "/ab/c", "/ax", "/b"]);
    assert_eq!(ls(k.to_string(), 3.into()).await, three);
    assert_eq!(ls(k.to_string(), [3, 2, 1].into()).await, three);
    assert_eq!(ls(format!("{k}/a"), 2.into()).await, l(&["/a", "/a/d", "/a/d/x", "/ab", "/ab/c", "/ax"]));
    assert_eq!(ls(format!("{k}/a/"), 1.into()).await, l(&["/a/d", "/a/d/x"]));
    assert_eq!(ls("/".to_string(), 32.into()).await, three);
}

async fn c10_leases(h: &H) {
    let db = h.a.db();
    let k = "/c10/leased";
    let lease = db.lease(5).await.unwrap();
    db.create(k, "x", Some(lease.id())).await.unwrap();
    assert!(matches!(db.create(k, "y", None).await, Err(Error::Collision { .. })));
    assert!(lease.alive().await.unwrap());
    // Transactional create on the lease as well.
    let mut txn = h.a.txn();
    loop {
        txn.create("/c10/leased2", "y", Some(lease.id())).await.unwrap();
        if txn.commit().await.unwrap() {
            break;
        }
    }
    assert!(db.get("/c10/leased2", None).await.unwrap().0.is_some());
    lease.revoke().await.unwrap();
    assert!(matches!(db.delete(k, DeleteOptions::default()).await, Err(Error::Vanished { .. })));
    let mut txn = h.a.txn();
    assert_eq!(txn.get(k).await.unwrap(), None);
    assert_eq!(txn.get("/c10/leased2").await.unwrap(), None);
}

async fn lease_expires_without_keep_alive(h: &H) {
    let db = h.a.db();
    // Kept alive past its TTL by the keep-alive task.
    let kept = db.lease(1).await.unwrap();
    db.create("/exp/kept", "x", Some(kept.id())).await.unwrap();
    // Not refreshed: dropping the handle stops the keep-alive.
    let dropped = db.lease(1).await.unwrap();
    db.create("/exp/gone", "x", Some(dropped.id())).await.unwrap();
    let mut w = db.watch("/exp/gone", false, None).await.unwrap();
    drop(dropped);
    let ev = w.next_timeout(Duration::from_secs(8)).await.expect("lease expiry delete event").unwrap();
    assert_eq!((ev.path.as_str(), ev.value), ("/exp/gone", None));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(db.get("/exp/gone", None).await.unwrap().0, None);
    assert_eq!(db.get("/exp/kept", None).await.unwrap().0.as_deref(), Some("x"));
    assert!(kept.alive().await.unwrap());
    // Revoked by someone else: the holder learns it through lost().
    h.b.db().backend().lease_revoke(kept.id()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), kept.lost()).await.expect("lost() resolves");
    assert_eq!(db.get("/exp/kept", None).await.unwrap().0, None);
}

async fn c11_delete_prefix_recursive(h: &H) {
    let db = h.a.db();
    let k = "/c11/K";
    let chain: Vec<String> = (0..10).map(|i| format!("{k}{}", "/x".repeat(i))).collect();
    let setup = || async {
        for p in chain.iter().chain([format!("{k}x"), format!("{k}x/x")].iter()) {
            let _ = db.create(p, "v", None).await;
        }
    };
    let all = || async { db.list_keys("/c11/", 16).await.unwrap() };
    setup().await;
    db.delete(k, DeleteOptions::default()).await.unwrap();
    let left = all().await;
    assert!(!left.contains(&k.to_string()) && left.contains(&format!("{k}x")) && left.len() == 11);
    // Deleting again with must_exist fails and changes nothing.
    assert_eq!(msg(db.delete(k, DeleteOptions::default()).await), "Cannot delete /c11/K, as it does not exist!");
    assert_eq!(all().await, left);
    setup().await;
    db.delete(k, DeleteOptions { prefix: true, ..Default::default() }).await.unwrap();
    let left = all().await;
    assert!(!left.contains(&k.to_string()) && !left.contains(&format!("{k}x")) && left.contains(&format!("{k}x/x")));
    setup().await;
    db.delete(k, DeleteOptions { recursive: true, must_exist: false, ..Default::default() }).await.unwrap();
    assert_eq!(all().await, vec![format!("{k}x"), format!("{k}x/x")]);
    setup().await;
    db.delete(k, DeleteOptions { recursive: true, must_exist: false, prefix: true, ..Default::default() }).await.unwrap();
    assert_eq!(all().await, Vec::<String>::new());
}

async fn c12_raw_watch(h: &H) {
    let db = h.a.db();
    let k = "/c12/K";
    let mut w = db.watch(&format!("{k}/key"), false, None).await.unwrap();
    db.create(&format!("{k}/key"), "bla", None).await.unwrap();
    for v in ["bla2", "bla3", "bla4"] {
        db.update(&format!("{k}/key"), v, None).await.unwrap();
    }
    db.delete(&format!("{k}/key"), DeleteOptions::default()).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(w.next_timeout(Duration::from_secs(5)).await.unwrap().unwrap().value);
    }
    let want: Vec<Option<String>> = vec![Some("bla".into()), Some("bla2".into()), Some("bla3".into()), Some("bla4".into()), None];
    assert_eq!(got, want);

    let mut all = db.watch(&format!("{k}/"), true, None).await.unwrap();
    let mut a = db.watch(&format!("{k}/a"), true, None).await.unwrap();
    for (s, v) in [("ab", "bla"), ("ac", "bla2"), ("ba", "bla3"), ("ad", "bla4")] {
        db.create(&format!("{k}/{s}"), v, None).await.unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..4 {
        let u = all.next_timeout(Duration::from_secs(5)).await.unwrap().unwrap();
        got.push((u.path, u.value.unwrap()));
    }
    let want: Vec<(String, String)> =
        [("ab", "bla"), ("ac", "bla2"), ("ba", "bla3"), ("ad", "bla4")].iter().map(|(s, v)| (format!("{k}/{s}"), v.to_string())).collect();
    assert_eq!(got, want);
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(a.next_timeout(Duration::from_secs(5)).await.unwrap().unwrap().path);
    }
    assert_eq!(got, vec![format!("{k}/ab"), format!("{k}/ac"), format!("{k}/ad")]);
    assert!(a.next_timeout(Duration::from_millis(300)).await.is_none());
    // A deeper key is not seen by a prefix watch at the upper level.
    db.create(&format!("{k}/ab/deeper"), "x", None).await.unwrap();
    assert!(all.next_timeout(Duration::from_millis(300)).await.is_none());
}

async fn c13_transaction_basics(h: &H) {
    let k = "/c13";
    let mut txn = h.a.txn();
    loop {
        txn.create(&format!("{k}/a"), "1", None).await.unwrap();
        assert_eq!(txn.get(&format!("{k}/a")).await.unwrap().as_deref(), Some("1"));
        txn.create(&format!("{k}/tmp"), "x", None).await.unwrap();
        txn.update(&format!("{k}/tmp"), "y").await.unwrap();
        assert_eq!(txn.get(&format!("{k}/tmp")).await.unwrap().as_deref(), Some("y"));
        txn.delete(&format!("{k}/tmp"), true, false).await.unwrap();
        assert_eq!(txn.get(&format!("{k}/tmp")).await.unwrap(), None);
        // Not in the database before commit.
        assert_eq!(h.b.db().get(&format!("{k}/a"), None).await.unwrap().0, None);
        if txn.commit().await.unwrap() {
            break;
        }
    }
    assert_eq!(h.b.db().get(&format!("{k}/a"), None).await.unwrap().0.as_deref(), Some("1"));
    assert_eq!(h.b.db().get(&format!("{k}/tmp"), None).await.unwrap().0, None);

    let mut txn = h.a.txn();
    assert_eq!(msg(txn.create(&format!("{k}/a"), "2", None).await), "Cannot create /c13/a, as it already exists!");
    assert_eq!(msg(txn.update(&format!("{k}/none"), "2").await), "Cannot update /c13/none, as it does not exist!");
    assert_eq!(msg(txn.delete(&format!("{k}/none"), true, false).await), "Cannot delete /c13/none, it does not exist!");
    txn.delete(&format!("{k}/a"), true, false).await.unwrap();
    assert!(matches!(txn.update(&format!("{k}/a"), "3").await, Err(Error::Vanished { .. })));
    assert!(matches!(txn.delete(&format!("{k}/a"), true, false).await, Err(Error::Vanished { .. })));
    txn.create(&format!("{k}/b"), "1", None).await.unwrap();
    assert!(matches!(txn.create(&format!("{k}/b"), "1", None).await, Err(Error::Collision { .. })));
    drop(txn); // abandoned after errors: nothing written
    assert_eq!(h.b.db().get(&format!("{k}/a"), None).await.unwrap().0.as_deref(), Some("1"));
    assert_eq!(h.b.db().get(&format!("{k}/b"), None).await.unwrap().0, None);

    // Recursive delete in a transaction.
    for p in ["r", "r/x", "r/x/y", "rr"] {
        h.a.db().create(&format!("{k}/{p}"), "v", None).await.unwrap();
    }
    let mut txn = h.a.txn();
    loop {
        txn.delete(&format!("{k}/r"), true, true).await.unwrap();
        if txn.commit().await.unwrap() {
            break;
        }
    }
    assert_eq!(h.a.db().list_keys(&format!("{k}/"), 5).await.unwrap(), vec![format!("{k}/a"), format!("{k}/rr")]);
}

async fn c14_snapshot_isolation_and_retry(h: &H) {
    let k = "/c14";
    let (db, out) = (h.a.db(), h.b.db());
    db.create(&format!("{k}/1"), "1", None).await.unwrap();
    db.create(&format!("{k}/2"), "0", None).await.unwrap();

    // Read-only: sees the snapshot of its first read, runs once, no callback.
    let fired = Arc::new(AtomicUsize::new(0));
    let mut txn = h.a.txn();
    let mut passes = 0;
    loop {
        passes += 1;
        assert_eq!(txn.get(&format!("{k}/1")).await.unwrap().as_deref(), Some("1"));
        out.update(&format!("{k}/2"), "changed", None).await.unwrap();
        assert_eq!(txn.get(&format!("{k}/2")).await.unwrap().as_deref(), Some("0"));
        let f = fired.clone();
        txn.on_commit(move || {
            f.fetch_add(1, Ordering::SeqCst);
        });
        if txn.commit().await.unwrap() {
            break;
        }
    }
    assert_eq!((passes, fired.load(Ordering::SeqCst)), (1, 0));

    // Reads K2, writes K3; an outsider updates K2 during the first 10 passes.
    out.update(&format!("{k}/2"), "0", None).await.unwrap();
    let mut txn = h.a.txn();
    let mut passes = 0;
    loop {
        let v2: i64 = txn.get(&format!("{k}/2")).await.unwrap().unwrap().parse().unwrap();
        if passes < 10 {
            out.update(&format!("{k}/2"), &(passes + 1).to_string(), None).await.unwrap();
        }
        passes += 1;
        let k3 = format!("{k}/3");
        if txn.get(&k3).await.unwrap().is_none() {
            txn.create(&k3, &(v2 + 1).to_string(), None).await.unwrap();
        } else {
            txn.update(&k3, &(v2 + 1).to_string()).await.unwrap();
        }
        let f = fired.clone();
        txn.on_commit(move || {
            f.fetch_add(1, Ordering::SeqCst);
        });
        if txn.commit().await.unwrap() {
            break;
        }
    }
    assert_eq!(passes, 11);
    assert_eq!(db.get(&format!("{k}/2"), None).await.unwrap().0.as_deref(), Some("10"));
    assert_eq!(db.get(&format!("{k}/3"), None).await.unwrap().0.as_deref(), Some("11"));
    assert_eq!(fired.load(Ordering::SeqCst), 1);

    // Read a missing key that an outsider then creates: one retry.
    let mut txn = h.a.txn();
    let mut passes = 0;
    loop {
        passes += 1;
        let seen = txn.get(&format!("{k}/4")).await.unwrap();
        if passes == 1 {
            out.create(&format!("{k}/4"), "x", None).await.unwrap();
        }
        txn.create(&format!("{k}/5-{}", seen.is_some()), "y", None).await.unwrap();
        if txn.commit().await.unwrap() {
            break;
        }
    }
    assert_eq!(passes, 2);
    assert_eq!(db.list_keys(&format!("{k}/5"), 0).await.unwrap(), vec![format!("{k}/5-true")]);

    // A create that collides with a concurrent outsider create: retried, then Collision.
    let mut txn = h.a.txn();
    let mut passes = 0;
    let fired = Arc::new(AtomicUsize::new(0));
    let err = loop {
        passes += 1;
        if let Err(e) = txn.create(&format!("{k}/6"), "mine", None).await {
            break e;
        }
        if passes == 1 {
            out.create(&format!("{k}/6"), "theirs", None).await.unwrap();
        }
        let f = fired.clone();
        txn.on_commit(move || {
            f.fetch_add(1, Ordering::SeqCst);
        });
        if txn.commit().await.unwrap() {
            panic!("must not commit");
        }
    };
    assert_eq!((passes, fired.load(Ordering::SeqCst)), (2, 0));
    assert_eq!(err.to_string(), "Cannot create /c14/6, as it already exists!");
    assert_eq!(db.get(&format!("{k}/6"), None).await.unwrap().0.as_deref(), Some("theirs"));
}

async fn c15_transactional_listing(h: &H) {
    let k = "/c15";
    let (db, out) = (h.a.db(), h.b.db());
    for s in ["a", "b"] {
        db.create(&format!("{k}/{s}"), "v", None).await.unwrap();
    }
    // A key created in the transaction shows in its listing, not yet in the database.
    let mut txn = h.a.txn();
    loop {
        txn.create(&format!("{k}/c"), "v", None).await.unwrap();
        assert_eq!(txn.list_keys(&format!("{k}/"), 0).await.unwrap(), vec![format!("{k}/a"), format!("{k}/b"), format!("{k}/c")]);
        txn.delete(&format!("{k}/c"), true, false).await.unwrap();
        assert_eq!(txn.list_keys(&format!("{k}/"), 0).await.unwrap(), vec![format!("{k}/a"), format!("{k}/b")]);
        txn.create(&format!("{k}/c"), "v", None).await.unwrap();
        assert_eq!(db.list_keys(&format!("{k}/"), 0).await.unwrap().len(), 2);
        if txn.commit().await.unwrap() {
            break;
        }
    }
    // Outside changes in a listed range while the body runs.
    let run = |outside: u8| async move {
        let mut txn = h.a.txn();
        let mut passes = 0;
        loop {
            passes += 1;
            let n = txn.list_keys(&format!("{k}/"), 0).await.unwrap().len();
            if passes == 1 {
                match outside {
                    0 => out.delete(&format!("{k}/a"), DeleteOptions::default()).await.unwrap(),
                    1 => out.create(&format!("{k}/a"), "v", None).await.unwrap(),
                    2 => out.update(&format!("{k}/b"), "changed", None).await.unwrap(),
                    _ => out.create(&format!("{k}/a/deeper"), "v", None).await.unwrap(),
                }
            }
            txn.create(&format!("{k}-count-{outside}"), &n.to_string(), None).await.unwrap();
            if txn.commit().await.unwrap() {
                break passes;
            }
        }
    };
    assert_eq!(run(0).await, 2, "outside delete in the listed range forces one retry");
    assert_eq!(run(1).await, 2, "outside create in the listed range forces one retry");
    assert_eq!(run(2).await, 1, "outside value update of a listed-only key does not");
    assert_eq!(run(3).await, 1, "a key one level below the range does not");
    assert_eq!(db.get(&format!("{k}-count-0"), None).await.unwrap().0.as_deref(), Some("2"));
    assert_eq!(db.get(&format!("{k}-count-1"), None).await.unwrap().0.as_deref(), Some("3"));
}

async fn c16_loop_and_wait(h: &H) {
    let k = "/c16/k";
    let (db, out) = (h.a.db(), h.b.db());
    db.create(k, "0", None).await.unwrap();
    // loop() without wait: four more passes, the outsider's updates all land in pass 1.
    let mut seen = Vec::new();
    let mut txn = h.a.txn();
    loop {
        seen.push(txn.get(k).await.unwrap().unwrap());
        if seen.len() == 1 {
            for i in 1..=4 {
                out.update(k, &i.to_string(), None).await.unwrap();
            }
        }
        if seen.len() < 5 {
            txn.repeat(false, None);
        }
        if txn.commit().await.unwrap() {
            break;
        }
    }
    assert_eq!(seen, vec!["0", "4", "4", "4", "4"]);

    // loop(wait): one outside update per pass, each wakes the next pass.
    out.update(k, "0", None).await.unwrap();
    let mut seen = Vec::new();
    let mut txn = h.a.txn();
    let b = h.b.db().clone();
    loop {
        let v = txn.get(k).await.unwrap().unwrap();
        seen.push(v.clone());
        if seen.len() < 5 {
            let next = (seen.len()).to_string();
            let b = b.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                b.update(k, &next, None).await.unwrap();
            });
            txn.repeat(true, Some(Duration::from_secs(10)));
        }
        if txn.commit().await.unwrap() {
            break;
        }
    }
    assert_eq!(seen, vec!["0", "1", "2", "3", "4"]);
    assert_eq!(txn.watched().0, vec![k.to_string()]);

    // A wait with nothing changing ends at its timeout.
    let t0 = std::time::Instant::now();
    let mut txn = h.a.txn();
    let mut passes = 0;
    loop {
        passes += 1;
        txn.get(k).await.unwrap();
        if passes == 1 {
            txn.repeat(true, Some(Duration::from_millis(300)));
        }
        if txn.commit().await.unwrap() {
            break;
        }
    }
    assert!(t0.elapsed() >= Duration::from_millis(300));
}

/// Does one waiting pass (which read `read` and listed `list`) wake up when `change` runs?
async fn wakes(h: &H, read: Option<&str>, list: Option<&str>, change: impl std::future::Future<Output = ()>) -> bool {
    let mut txn = h.a.txn();
    if let Some(r) = read {
        txn.get(r).await.unwrap();
    }
    if let Some(l) = list {
        txn.list_keys(l, 0).await.unwrap();
    }
    // Generous margins: the dev machine and CI are 2 shared cores.
    txn.repeat(true, Some(Duration::from_millis(1500)));
    let t0 = std::time::Instant::now();
    let (r, _) = tokio::join!(txn.commit(), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        change.await
    });
    assert!(!r.unwrap());
    t0.elapsed() < Duration::from_millis(1400)
}

async fn c17_watch_bookkeeping(h: &H) {
    let (db, out) = (h.a.db(), h.b.db());
    for p in ["/c17/r/a", "/c17/r/b", "/c17/x"] {
        db.create(p, "0", None).await.unwrap();
    }
    // Watched set follows what the pass read.
    let mut txn = h.a.txn();
    txn.get("/c17/x").await.unwrap();
    txn.list_keys("/c17/r/", 0).await.unwrap();
    txn.repeat(true, Some(Duration::from_millis(10)));
    txn.commit().await.unwrap();
    assert_eq!(txn.watched(), &(vec!["/c17/x".to_string()], vec!["/c17/r/".to_string()]));
    txn.get("/c17/r/a").await.unwrap();
    txn.repeat(true, Some(Duration::from_millis(10)));
    txn.commit().await.unwrap();
    assert_eq!(txn.watched(), &(vec!["/c17/r/a".to_string()], vec![]));

    assert!(wakes(h, None, Some("/c17/r/"), async { out.delete("/c17/r/a", DeleteOptions::default()).await.unwrap() }).await);
    assert!(wakes(h, None, Some("/c17/r/"), async { out.create("/c17/r/a", "0", None).await.unwrap() }).await);
    assert!(!wakes(h, None, Some("/c17/r/"), async { out.update("/c17/r/a", "1", None).await.unwrap() }).await);
    assert!(wakes(h, Some("/c17/r/a"), Some("/c17/r/"), async { out.update("/c17/r/a", "2", None).await.unwrap() }).await);
    assert!(!wakes(h, None, Some("/c17/r/"), async { out.create("/c17/r/a/below", "0", None).await.unwrap() }).await);
    assert!(!wakes(h, None, Some("/c17/r/"), async { out.create("/c17/above", "0", None).await.unwrap() }).await);
    assert!(wakes(h, Some("/c17/x"), None, async { out.update("/c17/x", "1", None).await.unwrap() }).await);
    assert!(wakes(h, Some("/c17/missing"), None, async { out.create("/c17/missing", "1", None).await.unwrap() }).await);

    // Many keys read in one pass: any one of them wakes the loop (one multiplexed watch).
    for i in 0..60 {
        db.create(&format!("/c17/many/{i}"), "0", None).await.unwrap();
    }
    let mut txn = h.a.txn();
    for i in 0..60 {
        txn.get(&format!("/c17/many/{i}")).await.unwrap();
    }
    txn.repeat(true, Some(Duration::from_secs(5)));
    let t0 = std::time::Instant::now();
    let (r, _) = tokio::join!(txn.commit(), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        out.update("/c17/many/37", "1", None).await.unwrap();
    });
    assert!(!r.unwrap());
    assert!(t0.elapsed() < Duration::from_secs(4));
    assert_eq!(txn.watched().0.len(), 60);
}

async fn c18_retry_limit(h: &H) {
    let k = "/c18/k";
    let out = h.b.db();
    h.a.db().create(k, "0", None).await.unwrap();
    let mut txn = h.a.txn_with_retries(9);
    let mut passes = 0;
    let err = loop {
        passes += 1;
        txn.get(k).await.unwrap();
        out.update(k, &passes.to_string(), None).await.unwrap();
        txn.create(&format!("/c18/out-{passes}"), "x", None).await.unwrap();
        match txn.commit().await {
            Ok(true) => panic!("must not commit"),
            Ok(false) => {}
            Err(e) => break e,
        }
    };
    assert_eq!(passes, 10);
    assert_eq!(err.to_string(), "Transaction did not succeed after 9 retries!");
    assert!(h.a.db().list_keys("/c18/out", 0).await.unwrap().is_empty(), "nothing written");

    // The counter resets on a successful commit.
    let mut txn = h.a.txn_with_retries(5);
    let mut pass = 0;
    let err = loop {
        txn.get(k).await.unwrap();
        if pass != 5 {
            out.update(k, &format!("p{pass}"), None).await.unwrap();
        }
        txn.create(&format!("/c18/loop-{pass}"), "x", None).await.unwrap();
        txn.repeat(false, None);
        pass += 1;
        match txn.commit().await {
            Ok(true) => panic!("looping transaction never finishes"),
            Ok(false) => {}
            Err(e) => break e,
        }
    };
    assert_eq!(pass - 1, 11);
    assert_eq!(err.to_string(), "Transaction did not succeed after 5 retries!");
}

async fn c19_processing_block_crud(h: &H) {
    let wf = Workflow::new("realtime", "test", "0.1");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let mut txn = h.a.txn();
        let id = loop {
            let id = txn.new_processing_block_id("realtime").await.unwrap();
            txn.create_processing_block(&ProcessingBlock::new(&id, Value::Null, wf.clone()).unwrap()).await.unwrap();
            if txn.commit().await.unwrap() {
                break id;
            }
        };
        ids.push(id);
    }
    let today = sdp_config::entity::today();
    assert_eq!(ids, vec![format!("realtime-{today}-0000"), format!("realtime-{today}-0001")]);
    let mut txn = h.a.txn();
    assert_eq!(txn.list_processing_blocks("").await.unwrap(), ids);
    let pb = txn.get_processing_block(&ids[0]).await.unwrap().unwrap();
    assert_eq!((pb.pb_id.as_str(), &pb.workflow, &pb.sbi_id), (ids[0].as_str(), &wf, &Value::Null));
    assert_eq!(msg(txn.create_processing_block(&pb).await), format!("Cannot create /pb/{}, as it already exists!", ids[0]));
    let mut pb2 = pb.clone();
    pb2.parameters = json!({"a": 1});
    pb2.scan_parameters = json!({"4": {}});
    loop {
        txn.update_processing_block(&pb2).await.unwrap();
        if txn.commit().await.unwrap() {
            break;
        }
    }
    let mut txn = h.b.txn();
    let back = txn.get_processing_block(&ids[0]).await.unwrap().unwrap();
    assert_eq!(back, pb2);
    assert_eq!(back.sbi_id, Value::Null);
    assert_eq!(txn.get_processing_block("nope").await.unwrap(), None);
    // Stored canonically.
    let (raw, _) = h.a.db().get(&format!("/pb/{}", ids[0]), None).await.unwrap();
    assert_eq!(raw.unwrap(), sdp_config::json::dumps(&pb2.to_value()));
}

async fn c20_ownership(h: &H) {
    let wf = Workflow::new("realtime", "testdask", "0.1.0");
    let id = "realtime-20191121-0000";
    let mut txn = h.a.txn();
    loop {
        txn.create_processing_block(&ProcessingBlock::new(id, Value::Null, wf.clone()).unwrap()).await.unwrap();
        if txn.commit().await.unwrap() {
            break;
        }
    }
    let lease = h.a.lease(5).await.unwrap();
    let mut txn = h.a.txn();
    loop {
        txn.take_processing_block(id, lease.id()).await.unwrap();
        if txn.commit().await.unwrap() {
            break;
        }
    }
    let mut txn = h.a.txn();
    assert_eq!(txn.get_processing_block_owner(id).await.unwrap().as_ref(), Some(h.a.owner()));
    assert!(txn.is_processing_block_owner(id).await.unwrap());
    let owner = txn.get_processing_block_owner(id).await.unwrap().unwrap();
    assert!(owner["command"].is_array() && owner["hostname"].is_string() && owner["pid"].is_u64());
    // A second client cannot take it.
    let b = Config::new(h.b.db().backend().clone()).with_owner(json!({"command": ["other"], "hostname": "h", "pid": 2}));
    let mut tb = b.txn();
    assert!(!tb.is_processing_block_owner(id).await.unwrap());
    let lb = b.client_lease().await.unwrap();
    assert_eq!(msg(tb.take_processing_block(id, lb).await), format!("Cannot create /pb/{id}/owner, as it already exists!"));
    lease.revoke().await.unwrap();
    let mut txn = h.a.txn();
    assert_eq!(txn.get_processing_block_owner(id).await.unwrap(), None);
    assert!(!txn.is_processing_block_owner(id).await.unwrap());

    // By workflow, on the client lease, until close().
    let mut tb = b.txn();
    assert_eq!(tb.take_processing_block_by_workflow(&Workflow::new("realtime", "nope", "0.1.0"), lb).await.unwrap(), None);
    let got = loop {
        let got = tb.take_processing_block_by_workflow(&wf, lb).await.unwrap();
        if tb.commit().await.unwrap() {
            break got;
        }
    };
    assert_eq!(got.unwrap().pb_id, id);
    let mut tb = b.txn();
    assert!(tb.is_processing_block_owner(id).await.unwrap());
    b.close().await.unwrap();
    let mut tb = b.txn();
    assert_eq!(tb.get_processing_block_owner(id).await.unwrap(), None);
}

async fn c21_pb_state(h: &H) {
    let id = "teststate-00000000-0000";
    let mut txn = h.a.txn();
    assert_eq!(txn.get_processing_block_state(id).await.unwrap(), None);
    let s1 = json!({"state": "executing", "subarray": "ON-test", "obsState": "SCANNING-test"});
    let s2 = json!({"state": "error"});
    loop {
        txn.create_processing_block_state(id, &s1).await.unwrap();
        if txn.commit().await.unwrap() {
            break;
        }
    }
    let mut txn = h.a.txn();
    assert_eq!(txn.get_processing_block_state(id).await.unwrap(), Some(s1.clone()));
    assert!(matches!(txn.create_processing_block_state(id, &s2).await, Err(Error::Collision { .. })));
    assert_eq!(msg(txn.update_processing_block_state(id, &json!("not a dict")).await), "Value must be a JSON object (dictionary)!");
    loop {
        txn.update_processing_block_state(id, &s2).await.unwrap();
        if txn.commit().await.unwrap() {
            break;
        }
    }
    assert_eq!(h.b.txn().get_processing_block_state(id).await.unwrap(), Some(s2));
}

async fn c22_id_allocation_reuses_gaps(h: &H) {
    let d = sdp_config::entity::today();
    let wf = Workflow::new("realtime", "w", "1");
    for i in 0..2 {
        let id = format!("realtime-{d}-000{i}");
        h.a.db().create(&format!("/pb/{id}"), &ProcessingBlock::new(&id, Value::Null, wf.clone()).unwrap().to_json(), None).await.unwrap();
    }
    h.a.db().delete(&format!("/pb/realtime-{d}-0000"), DeleteOptions::default()).await.unwrap();
    let mut txn = h.a.txn();
    assert_eq!(txn.new_processing_block_id("realtime").await.unwrap(), format!("realtime-{d}-0000"));
    assert_eq!(txn.new_processing_block_id("batch").await.unwrap(), format!("batch-{d}-0000"));
    assert_eq!(txn.new_processing_block_id_on("realtime", "20191121").await.unwrap(), "realtime-20191121-0000");
}

async fn c23_stored_key_encoding(h: &H) {
    let db = h.a.db();
    db.create("/pb/a", "{}", None).await.unwrap();
    db.create("/deploy/b", "{}", None).await.unwrap();
    db.create("/pb/a/owner", "{}", None).await.unwrap();
    let (kvs, _) = h.raw.range(&KeyRange::Prefix(String::new()), None, true).await.unwrap();
    let keys: Vec<&str> = kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, vec!["2/deploy/b", "2/pb/a", "3/pb/a/owner"]);
}

async fn concurrent_allocation_has_no_duplicates(h: &H) {
    let wf = Workflow::new("batch", "w", "1");
    let mut tasks = Vec::new();
    for i in 0..12 {
        let cfg = if i % 2 == 0 { Config::new(h.a.db().backend().clone()) } else { Config::new(h.b.db().backend().clone()) };
        let wf = wf.clone();
        tasks.push(tokio::spawn(async move {
            let mut txn = cfg.txn();
            loop {
                let id = txn.new_processing_block_id("batch").await.unwrap();
                txn.create_processing_block(&ProcessingBlock::new(&id, Value::Null, wf.clone()).unwrap()).await.unwrap();
                if txn.commit().await.unwrap() {
                    break id;
                }
            }
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.sort();
    let d = sdp_config::entity::today();
    let want: Vec<String> = (0..12).map(|i| format!("batch-{d}-{i:04}")).collect();
    assert_eq!(ids, want);
    assert_eq!(h.a.txn().list_processing_blocks("batch-").await.unwrap(), want);
}

async fn oversized_transaction_fails_clearly(h: &H) {
    let db = h.a.db();
    // 130 keys, created in chunks that fit.
    for chunk in 0..2 {
        let mut txn = h.a.txn();
        loop {
            for i in 0..65 {
                txn.create(&format!("/big/k{:03}", chunk * 65 + i), "v", None).await.unwrap();
            }
            if txn.commit().await.unwrap() {
                break;
            }
        }
    }
    assert_eq!(db.list_keys("/big/", 0).await.unwrap().len(), 130);
    // One transaction that read all 130 and writes one: 131 compares > 128.
    let mut txn = h.a.txn();
    for i in 0..130 {
        txn.get(&format!("/big/k{i:03}")).await.unwrap();
    }
    txn.create("/big/marker", "x", None).await.unwrap();
    let e = txn.commit().await.unwrap_err();
    assert!(matches!(e, Error::Runtime(_)));
    assert!(e.to_string().contains("etcd accepts at most 128"), "{e}");
    assert_eq!(db.get("/big/marker", None).await.unwrap().0, None, "nothing written");
    // Listing the same keys costs one compare per key plus one for the range.
    let mut txn = h.a.txn();
    txn.list_keys("/big/", 0).await.unwrap();
    txn.create("/big/marker", "x", None).await.unwrap();
    assert!(txn.commit().await.is_err());
    // Reading 100 is fine.
    let mut txn = h.a.txn();
    loop {
        for i in 0..100 {
            txn.get(&format!("/big/k{i:03}")).await.unwrap();
        }
        txn.create("/big/marker", "x", None).await.unwrap();
        if txn.commit().await.unwrap() {
            break;
        }
    }
    assert!(db.get("/big/marker", None).await.unwrap().0.is_some());
}

async fn deployments_and_device_state(h: &H) {
    let d = Deployment::new("realtime-x-dask", "helm", json!({"chart": "stable/dask", "values": {"a": 1}})).unwrap();
    let other = Deployment::new("realtime-x-daskother", "helm", json!({})).unwrap();
    let mut txn = h.a.txn();
    loop {
        txn.create_deployment(&d).await.unwrap();
        txn.create_deployment(&other).await.unwrap();
        txn.create_subarray("01", &json!({"state": "OFF"})).await.unwrap();
        txn.create_master(&json!({"state": "ON"})).await.unwrap();
        if txn.commit().await.unwrap() {
            break;
        }
    }
    h.a.db().create("/deploy/realtime-x-dask/state", "{}", None).await.unwrap();
    let mut txn = h.a.txn();
    assert_eq!(txn.list_deployments("").await.unwrap(), vec!["realtime-x-dask", "realtime-x-daskother"]);
    assert_eq!(txn.get_deployment("realtime-x-dask").await.unwrap(), Some(d.clone()));
    assert_eq!(txn.get_deployment("missing").await.unwrap(), None);
    // stored past the library under a key that is not its id: refused, not handed out as ".."
    h.a.db().create("/deploy/..", &d.to_json(), None).await.unwrap();
    let mut other_txn = h.a.txn();
    assert_eq!(
        other_txn.get_deployment("..").await.unwrap_err().to_string(),
        "its deploy_id is \"realtime-x-dask\", not \"..\" (a deployment is stored under its own deploy_id)"
    );
    h.a.db().delete("/deploy/..", Default::default()).await.unwrap();
    assert_eq!(txn.list_subarrays().await.unwrap(), vec!["01"]);
    assert_eq!(txn.get_master().await.unwrap(), Some(json!({"state": "ON"})));
    loop {
        txn.delete_deployment(&d).await.unwrap();
        txn.update_subarray("01", &json!({"state": "ON"})).await.unwrap();
        if txn.commit().await.unwrap() {
            break;
        }
    }
    assert_eq!(h.a.db().list_keys("/deploy/", 3).await.unwrap(), vec!["/deploy/realtime-x-daskother"]);
    assert_eq!(h.b.txn().get_subarray("01").await.unwrap(), Some(json!({"state": "ON"})));
    // Global prefix.
    let p = Config::new(h.a.db().backend().clone()).with_prefix("/__test");
    let mut txn = p.txn();
    loop {
        let id = txn.new_processing_block_id("realtime").await.unwrap();
        txn.create_processing_block(&ProcessingBlock::new(&id, Value::Null, Workflow::new("realtime", "t", "1")).unwrap()).await.unwrap();
        if txn.commit().await.unwrap() {
            break;
        }
    }
    assert_eq!(h.a.db().list_keys("/__test/pb/", 0).await.unwrap().len(), 1);
    assert!(h.a.db().list_keys("/pb/", 0).await.unwrap().is_empty());
}

async fn allocation_scales_past_txn_limit(h: &H) {
    // 140 PBs of one type on one day: listing them must not cost one compare each.
    let wf = Workflow::new("realtime", "w", "1");
    for i in 0..140 {
        let mut txn = h.a.txn();
        let id = loop {
            let id = txn.new_processing_block_id_on("realtime", "20191121").await.unwrap();
            txn.create_processing_block(&ProcessingBlock::new(&id, Value::Null, wf.clone()).unwrap()).await.unwrap();
            if txn.commit().await.unwrap() {
                break id;
            }
        };
        assert_eq!(id, format!("realtime-20191121-{i:04}"));
    }
    // A concurrent creation in the range forces a retry; a concurrent deletion does not.
    for (outside_create, want_passes) in [(true, 2), (false, 1)] {
        let mut txn = h.a.txn();
        let mut passes = 0;
        loop {
            passes += 1;
            let id = txn.new_processing_block_id_on("realtime", "20191121").await.unwrap();
            if passes == 1 {
                if outside_create {
                    h.b.db().create(&format!("/pb/{id}"), "{}", None).await.unwrap();
                } else {
                    h.b.db().delete("/pb/realtime-20191121-0007", DeleteOptions::default()).await.unwrap();
                }
            }
            txn.create_processing_block(&ProcessingBlock::new(&id, Value::Null, wf.clone()).unwrap()).await.unwrap();
            if txn.commit().await.unwrap() {
                break;
            }
        }
        assert_eq!(passes, want_passes, "outside create: {outside_create}");
    }
    assert_eq!(h.a.txn().list_processing_blocks("realtime-20191121-").await.unwrap().len(), 142);
}

/// The launcher's etcd keeps its data across restarts when given a data dir.
#[tokio::test]
async fn etcd_server_with_kept_data_dir() {
    if sdp_config::server::etcd_binary().is_none() {
        assert!(std::env::var("CI").map_or(true, |v| v.is_empty()), "CI is set but there is no `etcd` on PATH");
        eprintln!("\n\n*** SKIPPING etcd_server_with_kept_data_dir: no `etcd` on PATH ***\n");
        return;
    }
    let dir = std::env::temp_dir().join(format!("sdp-etcd-kept-{}", std::process::id()));
    let opts = sdp_config::EtcdServerOptions { data_dir: Some(dir.clone()), client_port: None, ..Default::default() };
    {
        let s = sdp_config::EtcdServer::start_with(&opts).unwrap();
        let cfg = Config::new(Arc::new(s.connect().await.unwrap()));
        cfg.db().create("/kept", "yes", None).await.unwrap();
    }
    assert!(dir.is_dir(), "data dir kept after stop");
    {
        let s = sdp_config::EtcdServer::start_with(&opts).unwrap();
        let cfg = Config::new(Arc::new(s.connect().await.unwrap()));
        assert_eq!(cfg.db().get("/kept", None).await.unwrap().0.as_deref(), Some("yes"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
    let _ = std::fs::remove_file(dir.with_extension("log"));
}

/// A backend that counts the single-key reads it serves, in front of a real one.
struct CountingReads {
    inner: Arc<dyn Backend>,
    key_reads: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl Backend for CountingReads {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn range(
        &self,
        range: &KeyRange,
        revision: Option<i64>,
        keys_only: bool,
    ) -> sdp_config::Result<(Vec<sdp_config::backend::KeyValue>, i64)> {
        if matches!(range, KeyRange::Key(_)) {
            self.key_reads.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.range(range, revision, keys_only).await
    }
    async fn txn(
        &self,
        c: Vec<sdp_config::backend::Compare>,
        o: Vec<sdp_config::backend::Op>,
    ) -> sdp_config::Result<sdp_config::backend::TxnResponse> {
        self.inner.txn(c, o).await
    }
    async fn watch(&self, range: &KeyRange, start: Option<i64>) -> sdp_config::Result<sdp_config::backend::WatchStream> {
        self.inner.watch(range, start).await
    }
    async fn watch_many(&self, ranges: &[KeyRange], start: Option<i64>) -> sdp_config::Result<sdp_config::backend::WatchStream> {
        self.inner.watch_many(ranges, start).await
    }
    async fn lease_grant(&self, ttl: i64) -> sdp_config::Result<i64> {
        self.inner.lease_grant(ttl).await
    }
    async fn lease_keep_alive(&self, id: i64) -> sdp_config::Result<i64> {
        self.inner.lease_keep_alive(id).await
    }
    async fn lease_revoke(&self, id: i64) -> sdp_config::Result<()> {
        self.inner.lease_revoke(id).await
    }
    async fn lease_time_to_live(&self, id: i64) -> sdp_config::Result<i64> {
        self.inner.lease_time_to_live(id).await
    }
}

/// `list_keys_prefetch`: the listed keys' values come with the listing, later gets of
/// them cost no round trip, and the transaction still behaves as if it had read them
/// (snapshot values, conflict on an outside change, wake-up on a change).
async fn c24_prefetching_listing(h: &H) {
    let (db, out) = (h.a.db(), h.b.db());
    for s in ["a", "b", "c"] {
        db.create(&format!("/c24/{s}"), &format!("v{s}"), None).await.unwrap();
    }
    let key_reads = Arc::new(AtomicUsize::new(0));
    let counting = Config::new(Arc::new(CountingReads { inner: h.raw.clone(), key_reads: key_reads.clone() }));
    let mut txn = counting.txn();
    let mut passes = 0;
    loop {
        passes += 1;
        let keys = txn.list_keys_prefetch("/c24/", 0).await.unwrap();
        assert_eq!(keys, vec!["/c24/a", "/c24/b", "/c24/c"]);
        if passes == 1 {
            // Changed after the snapshot: the transaction still sees the old value ...
            out.update("/c24/b", "changed", None).await.unwrap();
        }
        let before = key_reads.load(Ordering::SeqCst);
        let b = txn.get("/c24/b").await.unwrap();
        assert_eq!(txn.get("/c24/a").await.unwrap().as_deref(), Some("va"));
        assert_eq!(txn.get("/c24/zz").await.unwrap(), None, "absent from the listing: absent");
        assert_eq!(key_reads.load(Ordering::SeqCst), before, "served from the listing");
        assert_eq!(b.as_deref(), Some(if passes == 1 { "vb" } else { "changed" }));
        txn.update("/c24/c", &format!("from {}", b.unwrap())).await.unwrap();
        // ... and its commit fails, as if it had read the key by itself.
        if txn.commit().await.unwrap() {
            break;
        }
    }
    assert_eq!(passes, 2);
    assert_eq!(db.get("/c24/c", None).await.unwrap().0.as_deref(), Some("from changed"));

    // A waiting pass wakes when a prefetched key it read changes, not when one it did not read does.
    let waits = |read: &'static str, change: &'static str| {
        let counting = &counting;
        async move {
            let mut txn = counting.txn();
            txn.list_keys_prefetch("/c24/", 0).await.unwrap();
            txn.get(read).await.unwrap();
            txn.repeat(true, Some(Duration::from_millis(1500)));
            let t0 = std::time::Instant::now();
            let (r, _) = tokio::join!(txn.commit(), async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                out.update(change, "again", None).await.unwrap();
            });
            assert!(!r.unwrap());
            t0.elapsed() < Duration::from_millis(1400)
        }
    };
    assert!(waits("/c24/a", "/c24/a").await);
    assert!(!waits("/c24/a", "/c24/b").await);
}

/// Configure's transaction: the PB key is read (a create), the subarray state is `put`
/// without a read; the usual `Collision` when the PB exists, nothing half-written.
async fn c25_writes_without_reads(h: &H) {
    let db = h.a.db();
    let key_reads = Arc::new(AtomicUsize::new(0));
    let counting = Config::new(Arc::new(CountingReads { inner: h.raw.clone(), key_reads: key_reads.clone() }));
    let pb = ProcessingBlock::new("c25-pb", Value::Null, Workflow::new("realtime", "w", "1")).unwrap();
    let mut txn = counting.txn();
    loop {
        txn.create_processing_block(&pb).await.unwrap();
        txn.put_subarray("c25", &json!({"obs_state": "READY"})).unwrap();
        if txn.commit().await.unwrap() {
            break;
        }
    }
    assert_eq!(key_reads.load(Ordering::SeqCst), 1, "one read (the PB key), none for the state");
    assert!(db.get("/pb/c25-pb", None).await.unwrap().0.is_some());
    let (state, _) = db.get("/subarray/c25", None).await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&state.unwrap()).unwrap(), json!({"obs_state": "READY"}));

    // The same PB again: Collision, and the subarray state written with it is not.
    let mut txn = counting.txn();
    let err = loop {
        if let Err(e) = txn.create_processing_block(&pb).await {
            break e;
        }
        txn.put_subarray("c25", &json!({"obs_state": "CONFIGURING"})).unwrap();
        if txn.commit().await.unwrap() {
            panic!("created a PB that exists");
        }
    };
    assert_eq!(err.to_string(), "Cannot create /pb/c25-pb, as it already exists!");
    let (state, _) = db.get("/subarray/c25", None).await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&state.unwrap()).unwrap(), json!({"obs_state": "READY"}));
    assert!(txn.put("bad", "x").is_err(), "path rules still apply");
}

/// Issue #16: a component's alive key lives while it works, goes at once on a clean stop,
/// within the TTL when it dies, and while one piece of work is held past the stall limit;
/// a revoked lease is replaced. Read by another client through the transaction API.
async fn component_liveness(h: &H) {
    use sdp_config::{ComponentInfo, Liveness, LivenessOptions};
    let opts = LivenessOptions { ttl: 2, stall: Duration::from_millis(1500) };
    let alive = |name: &'static str| async move {
        let mut txn = h.b.txn();
        let v = txn.is_alive(name).await.unwrap();
        txn.commit().await.unwrap();
        v
    };
    let components = || async {
        let mut txn = h.b.txn();
        let v = txn.list_components().await.unwrap();
        txn.commit().await.unwrap();
        v
    };
    async fn eventually<F: std::future::Future<Output = bool>>(limit: Duration, mut f: impl FnMut() -> F) -> bool {
        let t0 = std::time::Instant::now();
        while t0.elapsed() < limit {
            if f().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    assert!(matches!(Liveness::start(&h.a, ComponentInfo::new("a/b", "x")).await, Err(Error::Value(_))));
    let ctl = Liveness::start_with(&h.a, ComponentInfo::new("controller", "controller"), opts).await.unwrap();
    // In place when start returns.
    assert!(alive("controller").await);
    let list = components().await;
    assert_eq!(list.len(), 1, "{list:?}");
    let c = &list[0];
    assert_eq!((c.name.as_str(), c.kind.as_str(), c.alive, c.stopped), ("controller", "controller", true, None));
    assert_eq!(c.record["pid"], json!(std::process::id()));
    assert!(c.seen_ago().unwrap() < 5.0);

    // Idle past several TTLs: still alive (an idle component need not wake up).
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(alive("controller").await);
    let seen = components().await[0].seen_ago().unwrap();
    assert!(seen < 3.5, "the record is refreshed every TTL: last seen {seen} s ago");

    // Work held past the stall limit: hung, the key goes; done, it comes back.
    let work = ctl.working();
    assert!(eventually(Duration::from_secs(10), || async { !alive("controller").await }).await, "a hang is seen");
    assert!(!ctl.is_up());
    drop(work);
    assert!(eventually(Duration::from_secs(10), || alive("controller")).await, "alive again once the work ends");

    // The lease revoked behind its back: replaced.
    let (v, _) = h.b.db().get("/component/controller/alive", None).await.unwrap();
    assert!(v.is_some());
    let lease = {
        let (kvs, _) = h.raw.range(&KeyRange::Key("3/component/controller/alive".into()), None, false).await.unwrap();
        kvs[0].lease
    };
    h.b.db().backend().lease_revoke(lease).await.unwrap();
    assert!(!alive("controller").await);
    assert!(eventually(Duration::from_secs(10), || alive("controller")).await, "a new lease after a revoke");

    // Clean stop: gone at once, and the record says when.
    ctl.stop().await.unwrap();
    assert!(!alive("controller").await);
    let c = components().await.remove(0);
    assert!(!c.alive && c.stopped.is_some() && c.seen_ago().unwrap() < 2.0, "{c:?}");

    // Death (no stop, no keep-alive): gone within the TTL.
    let dep = Liveness::start_with(&h.a, ComponentInfo::new("deployer-process", "deployer"), opts).await.unwrap();
    assert!(alive("deployer-process").await);
    drop(dep);
    assert!(eventually(Duration::from_secs(8), || async { !alive("deployer-process").await }).await, "a dead component expires");
    let list = components().await;
    assert_eq!(list.iter().map(|c| (c.name.as_str(), c.alive)).collect::<Vec<_>>(), [("controller", false), ("deployer-process", false)]);
    assert_eq!(list[1].stopped, None, "died, not stopped");

    // Forgotten on request.
    let mut txn = h.a.txn();
    loop {
        txn.delete_component("controller").await.unwrap();
        if txn.commit().await.unwrap() {
            break;
        }
    }
    assert_eq!(components().await.len(), 1);
}

/// Deployments owned by a PB: created with their record in one transaction, listed (all, or
/// one PB's), updated, deleted with it.
async fn deployment_ownership(h: &H) {
    let d = Deployment::new("pb-1-workflow", "process", json!({"command": ["true"]})).unwrap();
    let mut txn = h.a.txn();
    loop {
        assert!(txn.put_owned_deployment("pb-1", &d, "test").await.unwrap());
        if txn.commit().await.unwrap() {
            break;
        }
    }
    assert_eq!(txn.ownership_path("pb-1", "x"), "/ownership/pb-1/x");
    // Written already: nothing to write a second time.
    let mut txn = h.b.txn();
    assert!(!txn.put_owned_deployment("pb-1", &d, "test").await.unwrap());
    assert_eq!(txn.list_ownership().await.unwrap(), [("pb-1".to_string(), "pb-1-workflow".to_string())]);
    assert_eq!(txn.list_ownership_of("pb-1").await.unwrap(), [("pb-1".to_string(), "pb-1-workflow".to_string())]);
    assert_eq!(txn.list_ownership_of("pb-").await.unwrap(), [], "one PB's records, not a prefix");
    txn.commit().await.unwrap();
    let (rec, _) = h.b.db().get("/ownership/pb-1/pb-1-workflow", None).await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&rec.unwrap()).unwrap(), json!({"created_by": "test"}));
    // A changed deployment is updated, the record stays.
    let d2 = Deployment::new("pb-1-workflow", "process", json!({"command": ["false"]})).unwrap();
    let mut txn = h.a.txn();
    loop {
        assert!(txn.put_owned_deployment("pb-1", &d2, "test").await.unwrap());
        if txn.commit().await.unwrap() {
            break;
        }
    }
    let mut txn = h.b.txn();
    assert_eq!(txn.get_deployment("pb-1-workflow").await.unwrap(), Some(d2));
    txn.commit().await.unwrap();
    // Deleted together (the deployment's state key too).
    h.a.db().create("/deploy/pb-1-workflow/state", "{}", None).await.unwrap();
    let mut txn = h.a.txn();
    loop {
        txn.delete_owned_deployment("pb-1", "pb-1-workflow").await.unwrap();
        if txn.commit().await.unwrap() {
            break;
        }
    }
    assert_eq!(h.b.db().list_keys("/", 3).await.unwrap(), Vec::<String>::new());
}

/// `Db::delete_tree`: the keys `list_keys(path, depth)` lists, however many, in one request.
async fn delete_tree_of_any_size(h: &H) {
    let db = h.a.db();
    for i in 0..300 {
        db.create(&format!("/dt/k{i:03}"), "x", None).await.unwrap();
    }
    for k in ["/dt/k000/a", "/dt/k000/a/b", "/dtx", "/dt", "/d", "/other/k"] {
        db.create(k, "x", None).await.unwrap();
    }
    let deleted = db.delete_tree("/dt", 8).await.unwrap();
    assert_eq!(deleted.len(), 300 + 4, "{:?}", &deleted[..5]);
    assert_eq!(deleted[..4], ["/dt", "/dt/k000", "/dt/k000/a", "/dt/k000/a/b"]);
    assert!(deleted.contains(&"/dtx".to_string()), "a string prefix at each depth, as list_keys");
    assert_eq!(h.b.db().list_keys("/", 8).await.unwrap(), ["/d", "/other/k"]);
    assert_eq!(db.delete_tree("/dt", 8).await.unwrap(), Vec::<String>::new());
}

/// A listing bigger than one gRPC answer may be (4 MiB): 2 500 keys of 2 KiB, read at one
/// revision (etcd pages of 1 000 keys), every key once, with its value.
async fn listing_larger_than_a_grpc_message(h: &H) {
    let value = "x".repeat(2048);
    for chunk in (0..2500).collect::<Vec<_>>().chunks(100) {
        let ops = chunk.iter().map(|i| Op::Put { key: format!("2/big/k{i:05}"), value: value.clone(), lease: None }).collect();
        assert!(h.raw.txn(vec![], ops).await.unwrap().succeeded);
    }
    let (kvs, rev) = h.raw.range(&KeyRange::Prefix("2/big/".into()), None, false).await.unwrap();
    assert_eq!(kvs.len(), 2500);
    assert!(kvs.iter().enumerate().all(|(i, kv)| kv.key == format!("2/big/k{i:05}") && kv.value.len() == 2048));
    // At a fixed revision, later writes are not seen, across pages too.
    assert!(h.raw.txn(vec![], vec![Op::Put { key: "2/big/k00000a".into(), value: "new".into(), lease: None }]).await.unwrap().succeeded);
    let (again, _) = h.raw.range(&KeyRange::Prefix("2/big/".into()), Some(rev), true).await.unwrap();
    assert_eq!(again.len(), 2500);
    let mut txn = h.b.txn();
    assert_eq!(txn.list_keys_prefetch("/big/", 0).await.unwrap().len(), 2501);
    txn.commit().await.unwrap();
}

/// An execution block as AssignResources gives it, and its two PBs (script layout).
fn eb_and_pbs(eb_id: &str, pb: &str) -> (Value, Vec<ProcessingBlock>) {
    let eb = json!({"eb_id": eb_id, "max_length": 100.0, "context": {}, "beams": [{"beam_id": "vis0", "function": "visibilities"}],
                    "scan_types": [{"scan_type_id": "science", "beams": {"vis0": {"channels_id": "c", "polarisations_id": "p"}}}],
                    "channels": [], "polarisations": [], "fields": [], "resources": {"receptors": ["SKA001"]}});
    let rt = ProcessingBlock::for_script(&format!("{pb}-rt"), eb_id, Workflow::new("realtime", "vis_receive", "0.1.0"), json!({}), vec![])
        .unwrap();
    let deps = vec![Dependency { pb_id: format!("{pb}-rt"), kind: vec!["visibilities".into()] }];
    let batch =
        ProcessingBlock::for_script(&format!("{pb}-b"), eb_id, Workflow::new("batch", "testdask", "0.1.0"), json!({"n": 1}), deps).unwrap();
    (eb, vec![rt, batch])
}

async fn commit_eb(h: &Config, eb: &Value, pbs: &[ProcessingBlock]) -> Result<(), Error> {
    let mut txn = h.txn();
    loop {
        txn.create_execution_block(eb, pbs).await?;
        if txn.commit().await? {
            return Ok(());
        }
    }
}

async fn execution_block_with_its_pbs(h: &H) {
    let (eb, pbs) = eb_and_pbs("eb-test-20210630-00000", "pb-test-20210630-00000");
    commit_eb(&h.a, &eb, &pbs).await.unwrap();
    let mut txn = h.b.txn();
    assert_eq!(txn.list_execution_blocks().await.unwrap(), vec!["eb-test-20210630-00000"]);
    assert_eq!(txn.get_execution_block("eb-test-20210630-00000").await.unwrap(), Some(eb.clone()));
    assert_eq!(txn.get_execution_block_state("eb-test-20210630-00000").await.unwrap(), Some(EbState::active()));
    let back = txn.get_processing_block("pb-test-20210630-00000-b").await.unwrap().unwrap();
    assert_eq!(back, pbs[1]);
    assert_eq!(back.layout, PbLayout::Script);
    assert_eq!((back.workflow.kind.as_str(), back.workflow.id.as_str()), ("batch", "testdask"));
    // stored in the later library's layout: script {kind, name, version}, eb_id, dependencies
    let (raw, _) = h.a.db().get("/pb/pb-test-20210630-00000-b", None).await.unwrap();
    let v: Value = serde_json::from_str(&raw.unwrap()).unwrap();
    assert_eq!(
        v,
        json!({"pb_id": "pb-test-20210630-00000-b", "eb_id": "eb-test-20210630-00000",
               "script": {"kind": "batch", "name": "testdask", "version": "0.1.0"}, "parameters": {"n": 1},
               "dependencies": [{"pb_id": "pb-test-20210630-00000-rt", "kind": ["visibilities"]}]})
    );
    let (raw, _) = h.a.db().get("/eb/eb-test-20210630-00000/state", None).await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&raw.unwrap()).unwrap(),
        json!({"status": "ACTIVE", "scan_type": null, "scan_id": null, "scans": []})
    );
}

async fn execution_block_duplicates_write_nothing(h: &H) {
    let (eb, pbs) = eb_and_pbs("eb-dup-1", "pb-dup");
    commit_eb(&h.a, &eb, &pbs).await.unwrap();
    let before = h.a.db().list_keys("/", 3).await.unwrap();
    // the same eb_id with new PBs
    let (_, other_pbs) = eb_and_pbs("eb-dup-1", "pb-new");
    let e = commit_eb(&h.b, &eb, &other_pbs).await.unwrap_err();
    assert_eq!(e.to_string(), "Cannot create /eb/eb-dup-1, as it already exists!");
    // a new eb_id whose second PB is taken
    let (eb2, mut pbs2) = eb_and_pbs("eb-dup-2", "pb-fresh");
    pbs2[1].pb_id = "pb-dup-b".into();
    pbs2.iter_mut().for_each(|p| p.eb_id = Some("eb-dup-2".into()));
    let e = commit_eb(&h.b, &eb2, &pbs2).await.unwrap_err();
    assert_eq!(e.to_string(), "Cannot create /pb/pb-dup-b, as it already exists!");
    // the same pb_id twice in one request
    let (eb3, mut pbs3) = eb_and_pbs("eb-dup-3", "pb-twice");
    pbs3[1].pb_id = pbs3[0].pb_id.clone();
    let e = commit_eb(&h.b, &eb3, &pbs3).await.unwrap_err();
    assert_eq!(e.to_string(), "Cannot create /pb/pb-twice-rt, as it already exists!");
    assert_eq!(h.a.db().list_keys("/", 3).await.unwrap(), before, "nothing written");
}

async fn execution_block_end(h: &H) {
    let (eb, pbs) = eb_and_pbs("eb-end", "pb-end");
    commit_eb(&h.a, &eb, &pbs).await.unwrap();
    let mut txn = h.a.txn();
    loop {
        let mut st = txn.get_execution_block_state("eb-end").await.unwrap().unwrap();
        st.scan_type = Some("science".into());
        st.scan_id = Some(7);
        st.scans = vec![ScanRecord { scan_id: 7, scan_type: "science".into(), status: "SCANNING".into() }];
        txn.update_execution_block_state("eb-end", &st).await.unwrap();
        if txn.commit().await.unwrap() {
            break;
        }
    }
    let mut txn = h.b.txn();
    loop {
        txn.end_execution_block("eb-end", EbStatus::CANCELLED).await.unwrap();
        if txn.commit().await.unwrap() {
            break;
        }
    }
    let mut txn = h.a.txn();
    let st = txn.get_execution_block_state("eb-end").await.unwrap().unwrap();
    assert_eq!(st.status, EbStatus::CANCELLED);
    assert_eq!((st.scan_type, st.scan_id), (None, None));
    assert_eq!(st.scans, vec![ScanRecord { scan_id: 7, scan_type: "science".into(), status: "ABORTED".into() }]);
    // ending it again changes nothing; ending a missing one is an error
    let mut txn = h.a.txn();
    txn.end_execution_block("eb-end", EbStatus::FINISHED).await.unwrap();
    assert_eq!(txn.get_execution_block_state("eb-end").await.unwrap().unwrap().status, EbStatus::CANCELLED);
    assert_eq!(msg(txn.end_execution_block("eb-none", EbStatus::FINISHED).await), "Cannot update /eb/eb-none/state, as it does not exist!");
}

/// A fork answers from the snapshot it was made from, and its commit fails when what the
/// snapshot read has changed since; the retry reads afresh. Unchanged, it commits its writes.
async fn forked_transaction_starts_from_the_snapshot(h: &H) {
    let k = "/fork";
    let (db, out) = (h.a.db(), h.b.db());
    db.create(&format!("{k}/in"), "1", None).await.unwrap();
    let mut base = h.a.txn();
    assert_eq!(base.get(&format!("{k}/in")).await.unwrap().as_deref(), Some("1"));
    let at = base.revision();
    // Unchanged since the snapshot: the fork writes what it decided from it.
    let mut fork = base.fork();
    assert_eq!(fork.revision(), at);
    let v = fork.get(&format!("{k}/in")).await.unwrap().unwrap();
    fork.create(&format!("{k}/out-1"), &v, None).await.unwrap();
    assert!(fork.commit().await.unwrap());
    assert_eq!(db.get(&format!("{k}/out-1"), None).await.unwrap().0.as_deref(), Some("1"));
    // Changed since: the first attempt fails to commit, the retry sees the new value.
    out.update(&format!("{k}/in"), "2", None).await.unwrap();
    let mut fork = base.fork();
    let mut seen = Vec::new();
    loop {
        let v = fork.get(&format!("{k}/in")).await.unwrap().unwrap();
        seen.push(v.clone());
        fork.create(&format!("{k}/out-2"), &v, None).await.unwrap();
        if fork.commit().await.unwrap() {
            break;
        }
    }
    assert_eq!(seen, ["1", "2"], "the snapshot's value, then the fresh one");
    assert_eq!(db.get(&format!("{k}/out-2"), None).await.unwrap().0.as_deref(), Some("2"));
    base.commit().await.unwrap();
}
