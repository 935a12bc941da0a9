//! The processing controller (`sdp controller`, helm mode) and the Helm deployer
//! (`sdp deployer --type helm`) against a real etcd, with the real `sdp` and `sdpcfg`
//! binaries; Helm itself is the recording stand-in `tests/deployer/helm` placed first
//! on PATH. Scenarios D1–D7 of the acceptance scenarios, with the 2019 quirks fixed.

mod support;

use sdp_config::entity::today;
use serde_json::json;
use std::time::Duration;
use support::*;

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_deploys_fails_once_cascades_and_converges_after_restart() {
    let Some(etcd) = etcd() else { return };
    let port = etcd.port();
    let db = db(&etcd).await;
    let tmp = TempDir::new("pc");
    let log = tmp.path().join("controller.log");
    let env = [("SDP_HELM_NAMESPACE", "sdp"), ("SDP_DEPLOY_MODE", "helm")];
    let mut pc = Daemon::start(port, &["controller"], &env, &log);

    // D1: a new real-time PB gets exactly the seed's workflow deployment.
    let out = sdpcfg_ok(port, &["process", "realtime:testdask:0.1.0"]);
    let pb = format!("realtime-{}-0000", today());
    assert_eq!(out, format!("OK, pb_id = {pb}\n"));
    let dep = eventually!(10, "workflow deployment", get(&db, &format!("/deploy/{pb}-workflow")).await);
    assert_eq!(
        dep,
        format!(
            "{{\n  \"args\": {{\n    \"chart\": \"workflow\",\n    \"values\": {{\n      \"env.SDP_CONFIG_HOST\": \"127.0.0.1\",\n      \"env.SDP_HELM_NAMESPACE\": \"sdp\",\n      \"pb_id\": \"{pb}\",\n      \"wf_image\": \"nexus.engageska-portugal.pt/sdp-prototype/workflow-testdask:0.1.0\"\n    }}\n  }},\n  \"deploy_id\": \"{pb}-workflow\",\n  \"type\": \"helm\"\n}}"
        )
    );
    eventually!(5, "log line", when(pc.log_text().contains(&format!("Creating deployment {pb}-workflow"))));
    assert!(get(&db, &format!("/ownership/{pb}/{pb}-workflow")).await.is_some());

    // D2 (fixed): unknown workflow → FAILED state, written and logged once.
    sdpcfg_ok(port, &["process", "realtime:nonexistent:0.1.0"]);
    let bad = format!("realtime-{}-0001", today());
    let st = eventually!(10, "FAILED state", get_json(&db, &format!("/pb/{bad}/state")).await);
    assert_eq!(st["status"], "FAILED");
    assert_eq!(st["reason"], "Workflow type = realtime ID = nonexistent version = 0.1.0 is not supported");
    assert!(get(&db, &format!("/deploy/{bad}-workflow")).await.is_none());
    let rev = mod_rev(&db, &format!("/pb/{bad}/state")).await;

    // D5 (fixed): a PB id without three dash fields is handled like any other, once.
    let xyz = json!({"pb_id": "xyz", "sbi_id": "xyz", "workflow": {"id": "vis_receive", "type": "realtime", "version": "0.1.0"},
                     "parameters": {}, "scan_parameters": {"1": {}}});
    sdpcfg_ok(port, &["create", "/pb/xyz", &xyz.to_string()]);
    eventually!(10, "xyz-workflow", get(&db, "/deploy/xyz-workflow").await);
    let xyz_rev = mod_rev(&db, "/deploy/xyz-workflow").await;
    let db_rev = db.get("/x", None).await.unwrap().1.revision;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(mod_rev(&db, "/deploy/xyz-workflow").await, xyz_rev, "no rewrite loop");
    assert_eq!(mod_rev(&db, &format!("/pb/{bad}/state")).await, rev, "failure written once");
    assert_eq!(db.get("/x", None).await.unwrap().1.revision, db_rev, "an idle controller writes nothing");
    assert_eq!(count(&pc.log_text(), "nonexistent"), 1, "logged once:\n{}", pc.log_text());

    // D3 (explicit ownership): deleting a PB deletes what it owns, and only that.
    sdpcfg_ok(
        port,
        &[
            "create",
            &format!("/deploy/{pb}-dask"),
            r#"{"args": {"chart": "stable/dask"}, "deploy_id": "PB-dask", "type": "helm"}"#.replace("PB", &pb).as_str(),
        ],
    );
    sdpcfg_ok(port, &["create", &format!("/ownership/{pb}/{pb}-dask"), r#"{"created_by": "test"}"#]);
    sdpcfg_ok(port, &["deploy", "helm", &format!("{pb}-mine"), "{chart: mine}"]);
    sdpcfg_ok(port, &["delete", &format!("/pb/{pb}")]);
    eventually!(
        5,
        "cascade",
        when(keys(&db, "/deploy/", 0).await == vec![format!("/deploy/{pb}-mine"), "/deploy/xyz-workflow".to_string()])
    );
    // The log line follows the commit that the keys above show: wait for it too.
    eventually!(
        5,
        "cascade logged",
        when({
            let text = pc.log_text();
            text.contains(&format!("Deleting deployment {pb}-workflow")) && text.contains(&format!("Deleting deployment {pb}-dask"))
        })
    );
    assert!(keys(&db, &format!("/ownership/{pb}/"), 0).await.is_empty());

    // D4: a controller restarted after the database moved on converges from it alone.
    pc.kill();
    sdpcfg_ok(port, &["process", "realtime:teststate:0.2.7"]); // reuses id ...-0000
    sdpcfg_ok(port, &["delete", "/pb/xyz"]);
    sdpcfg_ok(port, &["create", "/pb/xyz-gone/state", r#"{"status": "RUNNING"}"#]);
    let mut pc = Daemon::start(port, &["controller"], &env, &log);
    eventually!(10, "new workflow deployment", get(&db, &format!("/deploy/{pb}-workflow")).await);
    let d = get_json(&db, &format!("/deploy/{pb}-workflow")).await.unwrap();
    assert_eq!(d["args"]["values"]["wf_image"], "nexus.engageska-portugal.pt/sdp-prototype/workflow-teststate:0.2.7");
    eventually!(10, "orphan deleted", when(get(&db, "/deploy/xyz-workflow").await.is_none()));
    eventually!(10, "orphan state deleted", when(get(&db, "/pb/xyz-gone/state").await.is_none()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mod_rev(&db, &format!("/pb/{bad}/state")).await, rev, "a restart does not re-fail");
    assert_eq!(pc.terminate(), Some(0));
    assert!(pc.log_text().contains("Asked to terminate"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_rejects_definitions_that_break_the_schema() {
    let tmp = TempDir::new("pcdefs");
    let file = tmp.path().join("workflows.json");
    std::fs::write(&file, r#"{"version": {"date-time": "x"}, "repositories": [{"name": "n", "path": "p"}], "workflows": [{"id": "a", "repository": "n", "image": "i", "versions": []}]}"#).unwrap();
    let log = tmp.path().join("pc.log");
    // As the chart configures it: SDP_WORKFLOWS_FILE.
    let mut pc = Daemon::start(1, &["controller"], &[("SDP_WORKFLOWS_FILE", file.to_str().unwrap())], &log);
    let st = pc.child.wait().unwrap();
    assert_eq!(st.code(), Some(1));
    let text = pc.log_text();
    assert!(text.contains("do not match the schema") && text.contains("/workflows/0/versions"), "{text}");
}

/// A PATH whose first entry holds the recording `helm`.
fn helm_env(tmp: &TempDir) -> Vec<(String, String)> {
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/deployer/helm"), bin.join("helm")).unwrap();
    let state = tmp.path().join("helm-state");
    std::fs::create_dir_all(state.join("releases/sdp")).unwrap();
    vec![
        ("PATH".into(), format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())),
        ("FAKE_HELM_LOG".into(), tmp.path().join("helm.log").display().to_string()),
        ("FAKE_HELM_STATE".into(), state.display().to_string()),
        ("SDP_HELM_NAMESPACE".into(), "sdp".into()),
    ]
}

fn helm_calls(tmp: &TempDir) -> Vec<String> {
    std::fs::read_to_string(tmp.path().join("helm.log")).unwrap_or_default().lines().map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_deployer_runs_exact_helm_command_lines() {
    let Some(etcd) = etcd() else { return };
    let port = etcd.port();
    let db = db(&etcd).await;
    let tmp = TempDir::new("helm");
    let env = helm_env(&tmp);
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    // D6: start-up reconciliation.
    std::fs::write(tmp.path().join("helm-state/releases/sdp/preexisting-release"), "").unwrap();
    sdpcfg_ok(port, &["deploy", "helm", "already-there-x", "{chart: foo}"]);
    sdpcfg_ok(port, &["deploy", "process", "not-for-helm", "{command: [sleep, '1']}"]);
    let log = tmp.path().join("deployer.log");
    let mut dep = Daemon::start(port, &["deployer", "--type", "helm"], &env_ref, &log);
    eventually!(10, "start-up calls", when(helm_calls(&tmp).len() >= 5));
    assert_eq!(
        helm_calls(&tmp),
        vec![
            "repo add stable https://charts.helm.sh/stable",
            "repo update",
            "list -q -n sdp",
            "uninstall preexisting-release -n sdp",
            "install already-there-x foo -n sdp",
        ]
    );
    assert!(dep.log_text().contains("Found 1 existing deployments."));

    // D7: install with --set, upgrade on change, uninstall on delete.
    let id = "realtime-20191121-0000-dask";
    sdpcfg_ok(
        port,
        &[
            "deploy",
            "helm",
            id,
            "{chart: stable/dask, values: {jupyter.enabled: 'false', worker.replicas: 2, scheduler.serviceType: ClusterIP}}",
        ],
    );
    eventually!(10, "install", when(helm_calls(&tmp).len() >= 6));
    assert_eq!(
        helm_calls(&tmp)[5],
        "install realtime-20191121-0000-dask stable/dask -n sdp --set jupyter.enabled=false,scheduler.serviceType=ClusterIP,worker.replicas=2"
    );
    let changed = json!({"args": {"chart": "stable/dask", "values": {"worker.replicas": 3}}, "deploy_id": id, "type": "helm"});
    sdpcfg_ok(port, &["update", &format!("/deploy/{id}"), &changed.to_string()]);
    eventually!(10, "upgrade", when(helm_calls(&tmp).len() >= 7));
    assert_eq!(helm_calls(&tmp)[6], "upgrade realtime-20191121-0000-dask stable/dask -n sdp --set worker.replicas=3");
    sdpcfg_ok(port, &["delete", &format!("/deploy/{id}")]);
    eventually!(10, "uninstall", when(helm_calls(&tmp).len() >= 8));
    assert_eq!(helm_calls(&tmp)[7], "uninstall realtime-20191121-0000-dask -n sdp");

    // A failing install is retried with backoff and reported in the deployment's state.
    std::fs::write(tmp.path().join("helm-state/fail-install-broken-x"), "Error: INSTALLATION FAILED: chart \"nope\" not found").unwrap();
    sdpcfg_ok(port, &["deploy", "helm", "broken-x", "{chart: nope}"]);
    let st = eventually!(10, "failure state", get_json(&db, "/deploy/broken-x/state").await);
    assert_eq!(st["status"], "FAILED");
    assert!(st["error"].as_str().unwrap().contains("chart \"nope\" not found"), "{st}");
    eventually!(10, "a retry", when(helm_calls(&tmp).iter().filter(|l| l.starts_with("install broken-x")).count() >= 2));
    std::fs::remove_file(tmp.path().join("helm-state/fail-install-broken-x")).unwrap();
    eventually!(20, "recovered", when(get(&db, "/deploy/broken-x/state").await.is_none()));
    assert!(tmp.path().join("helm-state/releases/sdp/broken-x").exists());
    assert!(!helm_calls(&tmp).iter().any(|l| l.contains("not-for-helm")), "process deployments are not helm's");

    // A restarted deployer finds the releases, checks their values, changes nothing that
    // is in step and upgrades what changed while it was down.
    dep.kill();
    let changed = json!({"args": {"chart": "nope", "values": {"x": {"y": true}}}, "deploy_id": "broken-x", "type": "helm"});
    sdpcfg_ok(port, &["update", "/deploy/broken-x", &changed.to_string()]);
    let n = helm_calls(&tmp).len();
    let mut dep = Daemon::start(port, &["deployer", "--type", "helm"], &env_ref, &log);
    eventually!(10, "restart calls", when(helm_calls(&tmp).len() >= n + 6));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        helm_calls(&tmp)[n..].to_vec(),
        vec![
            "repo add stable https://charts.helm.sh/stable",
            "repo update",
            "list -q -n sdp",
            "get values already-there-x -n sdp -o json",
            "get values broken-x -n sdp -o json",
            "upgrade broken-x nope -n sdp --set x.y=true",
        ]
    );
    assert_eq!(dep.terminate(), Some(0));
    assert!(dep.log_text().contains("Asked to terminate"));
}

/// The seed's "Start a workflow" and "Cleaning up" in helm mode: controller, the
/// testdask workflow (run here as Kubernetes would run its pod) and the Helm deployer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_flow_in_helm_mode() {
    let Some(etcd) = etcd() else { return };
    let port = etcd.port();
    let db = db(&etcd).await;
    let tmp = TempDir::new("seedhelm");
    let env = helm_env(&tmp);
    let mut env_ref: Vec<(&str, &str)> = env.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    env_ref.push(("SDP_DEPLOY_MODE", "helm"));
    let _pc = Daemon::start(port, &["controller"], &env_ref, &tmp.path().join("pc.log"));
    // As the chart runs it: `sdp deployer helm`.
    let _dep = Daemon::start(port, &["deployer", "helm"], &env_ref, &tmp.path().join("dep.log"));
    assert!(keys_but_services(&db).await.is_empty());
    let pb = format!("realtime-{}-0000", today());
    assert_eq!(sdpcfg_ok(port, &["process", "realtime:testdask:0.1.0"]), format!("OK, pb_id = {pb}\n"));
    eventually!(
        10,
        "workflow release",
        when(helm_calls(&tmp).iter().any(|l| l.starts_with(&format!("install {pb}-workflow workflow -n sdp --set "))))
    );
    let wf = Daemon::start(port, &["workflow", "testdask", &pb], &env_ref, &tmp.path().join("wf.log"));
    eventually!(15, "dask release", when(helm_calls(&tmp).iter().any(|l| l.starts_with(&format!("install {pb}-dask ")))));
    let calls = helm_calls(&tmp);
    assert!(calls.contains(&format!(
        "install {pb}-workflow workflow -n sdp --set env.SDP_CONFIG_HOST=127.0.0.1,env.SDP_HELM_NAMESPACE=sdp,pb_id={pb},wf_image=nexus.engageska-portugal.pt/sdp-prototype/workflow-testdask:0.1.0"
    )), "{calls:#?}");
    assert!(
        calls.contains(&format!(
            "install {pb}-dask stable/dask -n sdp --set jupyter.enabled=false,scheduler.serviceType=ClusterIP,worker.replicas=2"
        )),
        "{calls:#?}"
    );
    let want = "Keys with /deploy prefix:
/deploy/PB-dask = {
  \"args\": {
    \"chart\": \"stable/dask\",
    \"values\": {
      \"jupyter.enabled\": \"false\",
      \"scheduler.serviceType\": \"ClusterIP\",
      \"worker.replicas\": 2
    }
  },
  \"deploy_id\": \"PB-dask\",
  \"type\": \"helm\"
}
/deploy/PB-workflow = {
  \"args\": {
    \"chart\": \"workflow\",
    \"values\": {
      \"env.SDP_CONFIG_HOST\": \"127.0.0.1\",
      \"env.SDP_HELM_NAMESPACE\": \"sdp\",
      \"pb_id\": \"PB\",
      \"wf_image\": \"nexus.engageska-portugal.pt/sdp-prototype/workflow-testdask:0.1.0\"
    }
  },
  \"deploy_id\": \"PB-workflow\",
  \"type\": \"helm\"
}
"
    .replace("PB", &pb);
    assert_eq!(sdpcfg_ok(port, &["ls", "values", "-R", "/deploy"]), want);
    let owner = get_json(&db, &format!("/pb/{pb}/owner")).await.unwrap();
    assert_eq!(owner["command"], json!([sdp_exe(), "workflow", "testdask", pb]));
    assert_eq!(owner["pid"], json!(wf.pid()));
    assert!(owner["hostname"].as_str().is_some_and(|h| !h.is_empty()));
    let listing = sdpcfg_ok(port, &["ls", "values", "-R", "/pb"]);
    assert!(listing.starts_with(&format!("Keys with /pb prefix:\n/pb/{pb} = {{\n  \"parameters\": {{}},\n  \"pb_id\": \"{pb}\",\n  \"sbi_id\": null,\n  \"scan_parameters\": {{}},\n  \"workflow\": {{\n    \"id\": \"testdask\",\n    \"type\": \"realtime\",\n    \"version\": \"0.1.0\"\n  }}\n}}\n/pb/{pb}/owner = {{\n  \"command\": [\n")), "{listing}");

    // Cleaning up: everything goes, releases included.
    let mut wf = wf;
    sdpcfg_ok(port, &["delete", &format!("/pb/{pb}")]);
    eventually!(
        10,
        "releases uninstalled",
        when({
            let c = helm_calls(&tmp);
            c.contains(&format!("uninstall {pb}-workflow -n sdp")) && c.contains(&format!("uninstall {pb}-dask -n sdp"))
        })
    );
    eventually!(10, "workflow exits", when(matches!(wf.child.try_wait(), Ok(Some(_)))));
    eventually!(5, "db empty", when(keys_but_services(&db).await.is_empty()));
    assert!(wf.log_text().contains("cleaning up"), "{}", wf.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_calls_that_hang_time_out_and_are_reported() {
    let Some(etcd) = etcd() else { return };
    let port = etcd.port();
    let db = db(&etcd).await;
    let tmp = TempDir::new("helmtimeout");
    let mut env = helm_env(&tmp);
    env.push(("SDP_HELM_TIMEOUT".into(), "1".into()));
    env.push(("SDP_HELM_STABLE_REPO".into(), "".into()));
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    std::fs::write(tmp.path().join("helm-state/sleep-install-slow-x"), "30").unwrap();
    let _dep = Daemon::start(port, &["deployer", "--type", "helm"], &env_ref, &tmp.path().join("dep.log"));
    sdpcfg_ok(port, &["deploy", "helm", "slow-x", "{chart: slow}"]);
    let st = eventually!(10, "timeout reported", get_json(&db, "/deploy/slow-x/state").await);
    assert_eq!(st["status"], "FAILED");
    assert!(st["error"].as_str().unwrap().contains("timed out after 1s"), "{st}");
    assert_eq!(helm_calls(&tmp)[0], "list -q -n sdp", "no stable repo configured: no repo calls");
    std::fs::remove_file(tmp.path().join("helm-state/sleep-install-slow-x")).unwrap();
    eventually!(15, "installed on retry", when(get(&db, "/deploy/slow-x/state").await.is_none()));
}

/// SDP_HELM_VALUES (what the chart sets from global.etcd) reaches every install under the
/// deployment's own values, stays out of the configuration DB, and counts as in step when
/// a restarted deployer compares a release's values with its deployment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_deployer_adds_its_site_values_to_every_release() {
    let Some(etcd) = etcd() else { return };
    let port = etcd.port();
    let db = db(&etcd).await;
    let tmp = TempDir::new("helmsite");
    let mut env = helm_env(&tmp);
    env.push(("SDP_HELM_STABLE_REPO".into(), "".into()));
    // nested and dotted keys, as the chart may write either
    let site = r#"{"global": {"etcd": {"tls": {"enabled": true, "secret": "etcd-client-tls"}}}, "global.etcd.auth.secret": "etcd-auth"}"#;
    env.push(("SDP_HELM_VALUES".into(), site.into()));
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let log = tmp.path().join("dep.log");
    let mut dep = Daemon::start(port, &["deployer", "helm"], &env_ref, &log);
    let entry = "{chart: workflow, values: {pb_id: pb-1, global.etcd.tls.secret: its-own}}";
    sdpcfg_ok(port, &["deploy", "helm", "pb-1-workflow", entry]);
    sdpcfg_ok(port, &["deploy", "helm", "bare-x", "{chart: bare}"]);
    eventually!(10, "installs", when(helm_calls(&tmp).len() >= 3));
    let mut calls = helm_calls(&tmp);
    calls.sort();
    assert_eq!(
        calls,
        vec![
            "install bare-x bare -n sdp --set global.etcd.auth.secret=etcd-auth,global.etcd.tls.enabled=true,global.etcd.tls.secret=etcd-client-tls",
            // the deployment's own value wins over the site's
            "install pb-1-workflow workflow -n sdp --set global.etcd.auth.secret=etcd-auth,global.etcd.tls.enabled=true,global.etcd.tls.secret=its-own,pb_id=pb-1",
            "list -q -n sdp",
        ]
    );
    // the deployment entries are as written: the site's values are the deployer's, not the DB's
    assert_eq!(get_json(&db, "/deploy/bare-x").await.unwrap()["args"], json!({"chart": "bare"}));

    // A restarted deployer with the same site values finds both releases in step.
    assert_eq!(dep.terminate(), Some(0));
    let n = helm_calls(&tmp).len();
    let mut dep = Daemon::start(port, &["deployer", "helm"], &env_ref, &log);
    eventually!(10, "restart calls", when(helm_calls(&tmp).len() >= n + 3));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        helm_calls(&tmp)[n..].to_vec(),
        vec!["list -q -n sdp", "get values bare-x -n sdp -o json", "get values pb-1-workflow -n sdp -o json"]
    );
    assert_eq!(dep.terminate(), Some(0));

    // Site values that are not a JSON object stop the deployer with a message naming the variable.
    let mut bad = env_ref.clone();
    bad.retain(|(k, _)| *k != "SDP_HELM_VALUES");
    bad.push(("SDP_HELM_VALUES", "global.etcd.tls.enabled=true"));
    let bad_log = tmp.path().join("bad.log");
    let mut dep = Daemon::start(port, &["deployer", "helm"], &bad, &bad_log);
    let code = eventually!(10, "exit", dep.child.try_wait().unwrap().map(|s| s.code()));
    assert_ne!(code, Some(0));
    assert!(dep.log_text().contains("SDP_HELM_VALUES must be a JSON object"), "{}", dep.log_text());
}
