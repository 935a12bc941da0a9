//! The `process` deployer and the seed's flow on one machine: real etcd, the real
//! `sdp`/`sdpcfg` binaries, real local processes (and a real Dask cluster from the
//! project venv, `make deps`).

mod support;

use sdp_config::entity::today;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;
use support::*;

fn pids_of(dir: &std::path::Path, deploy_id: &str) -> Vec<i32> {
    recorded_pids(dir).into_iter().filter(|(_, k)| k.starts_with(&format!("{deploy_id}/"))).map(|(p, _)| p).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_deployer_starts_stops_restarts_and_adopts() {
    let Some(etcd) = etcd() else { return };
    let port = etcd.port();
    let db = db(&etcd).await;
    let tmp = TempDir::new("procdep");
    let state = tmp.path().join("state");
    let state_s = state.display().to_string();
    let args = ["deployer", "--type", "process", "--state-dir", &state_s, "--grace", "1"];
    let log = tmp.path().join("deployer.log");
    let denv = [("SDP_PROCESS_STABLE", "2")];
    let mut dep = Daemon::start(port, &args, &denv, &log);
    // One deployer per state directory.
    eventually!(5, "lock", when(std::fs::read_to_string(state.join(".lock")).is_ok_and(|p| p == dep.pid().to_string())));
    let mut second = Daemon::start(port, &args, &[], &tmp.path().join("second.log"));
    assert_eq!(second.child.wait().unwrap().code(), Some(1));
    assert!(second.log_text().contains("another process deployer"), "{}", second.log_text());

    sdpcfg_ok(port, &["deploy", "process", "t-sleep", "{command: [sleep, '300'], replicas: 2}"]);
    sdpcfg_ok(
        port,
        &["deploy", "process", "t-echo", "{command: [sh, -c, 'echo hello $GREETING; exec sleep 300'], env: {GREETING: world}}"],
    );
    sdpcfg_ok(port, &["deploy", "process", "t-stubborn", r#"{command: [sh, -c, 'trap "" TERM; while :; do sleep 0.1; done']}"#]);
    sdpcfg_ok(port, &["deploy", "helm", "t-helm", "{chart: x}"]);
    eventually!(10, "4 processes", when(recorded_pids(&state).len() == 4));
    let sleeps = pids_of(&state, "t-sleep");
    assert_eq!(sleeps.len(), 2);
    assert!(sleeps.iter().all(|p| alive(*p)));
    eventually!(5, "stdout log", when(std::fs::read_to_string(state.join("t-echo/0.stdout.log")).unwrap_or_default() == "hello world\n"));
    assert!(state.join("t-echo/0.stderr.log").exists());
    assert!(!state.join("t-helm").exists(), "helm deployments are not the process deployer's");
    // Each replica leads its own process group.
    let pgid = unsafe { libc::getpgid(sleeps[0]) };
    assert_eq!(pgid, sleeps[0]);

    // SIGTERM, then SIGKILL after the grace period.
    let stubborn = pids_of(&state, "t-stubborn")[0];
    let t0 = std::time::Instant::now();
    sdpcfg_ok(port, &["delete", "/deploy/t-stubborn"]);
    eventually!(6, "stubborn killed", when(!alive(stubborn)));
    assert!(t0.elapsed() >= Duration::from_millis(900), "killed before the grace period");
    eventually!(3, "record gone", when(pids_of(&state, "t-stubborn").is_empty()));
    assert!(dep.log_text().contains("SIGKILL"));

    // A failing process is restarted with backoff and reported; a missing program too.
    sdpcfg_ok(port, &["deploy", "process", "t-fail", "{command: [sh, -c, 'exit 3']}"]);
    let st = eventually!(10, "restart state", get_json(&db, "/deploy/t-fail/state").await.filter(|s| s["restarts"].as_u64() >= Some(2)));
    assert_eq!((st["status"].as_str(), st["exit_code"].as_i64()), (Some("RESTARTING"), Some(3)), "{st}");
    // One that fails twice, then runs: its report is cleared once it has run for a while.
    let flaky = format!(
        r#"{{command: [sh, -c, 'n=$(cat count 2>/dev/null || echo 0); echo $((n+1)) > count; [ $n -ge 2 ] && exec sleep 300; exit 1'], cwd: '{}'}}"#,
        tmp.path().display()
    );
    sdpcfg_ok(port, &["deploy", "process", "t-flaky", &flaky]);
    eventually!(10, "flaky reported", get_json(&db, "/deploy/t-flaky/state").await.filter(|s| s["restarts"] == 2));
    eventually!(15, "flaky healed", when(get(&db, "/deploy/t-flaky/state").await.is_none()));
    assert_eq!(pids_of(&state, "t-flaky").len(), 1);
    sdpcfg_ok(port, &["delete", "/deploy/t-flaky"]);
    sdpcfg_ok(port, &["deploy", "process", "t-missing", "{command: [/nonexistent/program]}"]);
    let st = eventually!(10, "spawn failure", get_json(&db, "/deploy/t-missing/state").await);
    assert_eq!(st["status"], "FAILED");
    assert!(st["error"].as_str().unwrap().contains("cannot start /nonexistent/program"), "{st}");
    sdpcfg_ok(port, &["deploy", "process", "t-once", "{command: ['true'], restart: never}"]);
    let st = eventually!(10, "finished", get_json(&db, "/deploy/t-once/state").await);
    assert_eq!((st["status"].as_str(), st["exit_code"].as_i64()), (Some("FINISHED"), Some(0)));
    for d in ["t-fail", "t-missing", "t-once"] {
        sdpcfg_ok(port, &["delete", "-R", &format!("/deploy/{d}")]);
    }

    // Kill the deployer; change the world; a new one adopts what it still wants and
    // stops the rest.
    dep.kill();
    assert!(sleeps.iter().all(|p| alive(*p)), "processes outlive their deployer");
    let echo = pids_of(&state, "t-echo")[0];
    sdpcfg_ok(port, &["delete", "/deploy/t-echo"]);
    let mut dep = Daemon::start(port, &args, &[], &log);
    eventually!(6, "echo stopped after restart", when(!alive(echo)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(pids_of(&state, "t-sleep"), sleeps, "adopted, not restarted");
    assert!(dep.log_text().contains("adopting t-sleep[0]"));

    // Scale down: the spec changed, so replicas restart with it; replica 1 goes.
    let one = json!({"args": {"command": ["sleep", "300"], "replicas": 1}, "deploy_id": "t-sleep", "type": "process"});
    sdpcfg_ok(port, &["update", "/deploy/t-sleep", &one.to_string()]);
    eventually!(6, "scaled down", when(pids_of(&state, "t-sleep").len() == 1 && sleeps.iter().all(|p| !alive(*p))));

    // Deleting everything leaves nothing running; SIGTERM ends the deployer with 0.
    let last = pids_of(&state, "t-sleep");
    sdpcfg_ok(port, &["delete", "/deploy/t-sleep"]);
    eventually!(6, "all gone", when(recorded_pids(&state).is_empty() && last.iter().all(|p| !alive(*p))));
    assert_eq!(dep.terminate(), Some(0));

    // With --stop-on-exit (the one-machine launcher's choice) SIGTERM stops them first.
    let mut stop_args = args.to_vec();
    stop_args.push("--stop-on-exit");
    let mut dep = Daemon::start(port, &stop_args, &[], &log);
    sdpcfg_ok(port, &["deploy", "process", "t-last", "{command: [sleep, '300']}"]);
    eventually!(10, "t-last", when(pids_of(&state, "t-last").len() == 1));
    let pid = pids_of(&state, "t-last")[0];
    assert_eq!(dep.terminate(), Some(0));
    assert!(!alive(pid), "stopped with the deployer");
    assert!(recorded_pids(&state).is_empty());
}

fn venv_dask() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("SDP_DASK") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    Some(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/dask"))).filter(|p| p.is_file())
}

/// The seed's "Start a workflow" and "Cleaning up" on one machine, with the controller
/// and the deployer killed and restarted mid-flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_flow_with_real_dask_processes() {
    let Some(dask) = venv_dask() else {
        eprintln!("\n*** SKIPPING seed_flow_with_real_dask_processes: no .venv/bin/dask (make deps) ***\n");
        return;
    };
    let Some(etcd) = etcd() else { return };
    let port = etcd.port();
    let db = db(&etcd).await;
    let tmp = TempDir::new("seedproc");
    let state = tmp.path().join("state");
    let dask_s = dask.display().to_string();
    let env = [
        ("SDP_DEPLOY_MODE", "process"),
        ("SDP_DASK", dask_s.as_str()),
        ("SDP_PROCESS_STATE_DIR", state.to_str().unwrap()),
        ("SDP_PROCESS_GRACE", "3"),
    ];
    let pc_log = tmp.path().join("pc.log");
    let dep_log = tmp.path().join("dep.log");
    let mut pc = Daemon::start(port, &["controller"], &env, &pc_log);
    let mut dep = Daemon::start(port, &["deployer"], &env, &dep_log);

    let pb = format!("realtime-{}-0000", today());
    assert_eq!(sdpcfg_ok(port, &["process", "realtime:testdask:0.1.0"]), format!("OK, pb_id = {pb}\n"));
    let owner = eventually!(20, "owner", get_json(&db, &format!("/pb/{pb}/owner")).await);
    assert_eq!(owner["command"], json!([sdp_exe(), "workflow", "testdask", pb]));
    let wf_pid = pids_of(&state, &format!("{pb}-workflow"));
    assert_eq!(wf_pid.len(), 1);
    assert_eq!(owner["pid"], json!(wf_pid[0]), "the owner is the workflow process the deployer runs");
    let wf = get_json(&db, &format!("/deploy/{pb}-workflow")).await.unwrap();
    assert_eq!(wf["type"], "process");
    assert_eq!(wf["args"]["command"], json!([sdp_exe(), "workflow", "testdask", pb]));

    // Kill the controller and the deployer mid-flow; their successors carry on.
    eventually!(20, "dask deployments", get(&db, &format!("/deploy/{pb}-dask-worker")).await);
    pc.kill();
    dep.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _pc = Daemon::start(port, &["controller"], &env, &pc_log);
    let _dep = Daemon::start(port, &["deployer"], &env, &dep_log);

    let st = eventually!(
        180,
        "computation result",
        get_json(&db, &format!("/pb/{pb}/state")).await.filter(|s| s.get("computation").is_some() || s["status"] == "FAILED")
    );
    assert_eq!(st["status"], "RUNNING", "{st}");
    assert_eq!(st["computation"]["result"]["sum"], 500500, "{st}");
    assert_eq!(st["computation"]["result"]["n"], 1000);
    assert_eq!(st["computation"]["result"]["workers"], 2);
    assert_eq!(pids_of(&state, &format!("{pb}-workflow")), wf_pid, "the workflow process was adopted, not restarted");
    let sched = pids_of(&state, &format!("{pb}-dask-scheduler"));
    let workers = pids_of(&state, &format!("{pb}-dask-worker"));
    assert_eq!((sched.len(), workers.len()), (1, 2));
    let all: Vec<i32> = recorded_pids(&state).into_iter().map(|(p, _)| p).collect();
    assert_eq!(all.len(), 4);
    assert!(all.iter().all(|p| alive(*p)));
    let mut deploys = keys(&db, "/deploy/", 0).await;
    deploys.sort();
    assert_eq!(
        deploys,
        vec![format!("/deploy/{pb}-dask-scheduler"), format!("/deploy/{pb}-dask-worker"), format!("/deploy/{pb}-workflow")]
    );
    assert!(std::fs::read_to_string(state.join(format!("{pb}-dask-scheduler/0.stderr.log"))).unwrap().contains("Scheduler"));

    // Cleaning up: deleting the PB removes every deployment, process and key.
    sdpcfg_ok(port, &["delete", &format!("/pb/{pb}")]);
    eventually!(15, "processes gone", when(all.iter().all(|p| !alive(*p))));
    eventually!(15, "database empty", when(keys_but_services(&db).await.is_empty()));
    eventually!(5, "records gone", when(recorded_pids(&state).is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn testdask_without_dask_says_so_in_the_pb_state() {
    let Some(etcd) = etcd() else { return };
    let port = etcd.port();
    let db = db(&etcd).await;
    let tmp = TempDir::new("nodask");
    let state = tmp.path().join("state");
    let env = [("SDP_DEPLOY_MODE", "process"), ("SDP_DASK", "/nonexistent/dask"), ("SDP_PROCESS_STATE_DIR", state.to_str().unwrap())];
    let _pc = Daemon::start(port, &["controller"], &env, &tmp.path().join("pc.log"));
    let _dep = Daemon::start(port, &["deployer"], &env, &tmp.path().join("dep.log"));
    let pb = format!("realtime-{}-0000", today());
    sdpcfg_ok(port, &["process", "realtime:testdask:0.1.0"]);
    let st = eventually!(20, "state", get_json(&db, &format!("/pb/{pb}/state")).await);
    assert_eq!(st["status"], "FAILED");
    assert!(st["reason"].as_str().unwrap().starts_with("Dask is missing"), "{st}");
    assert_eq!(keys(&db, "/deploy/", 0).await, vec![format!("/deploy/{pb}-workflow")]);

    // A workflow process that dies is restarted by the deployer; the new one waits for
    // the dead one's lease to expire, then claims the PB.
    let old = pids_of(&state, &format!("{pb}-workflow"));
    assert_eq!(old.len(), 1);
    let owner = get_json(&db, &format!("/pb/{pb}/owner")).await.unwrap();
    assert_eq!(owner["pid"], json!(old[0]));
    unsafe {
        libc::kill(old[0], libc::SIGKILL);
    }
    let new = eventually!(10, "restarted", Some(pids_of(&state, &format!("{pb}-workflow"))).filter(|p| p.len() == 1 && p != &old));
    let owner = eventually!(20, "new owner", get_json(&db, &format!("/pb/{pb}/owner")).await.filter(|o| o["pid"] == json!(new[0])));
    assert_eq!(owner["command"][2], "testdask");
    sdpcfg_ok(port, &["delete", &format!("/pb/{pb}")]);
    eventually!(15, "database empty", when(keys_but_services(&db).await.is_empty()));
    eventually!(10, "no processes", when(recorded_pids(&state).is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_teststate_testdeploy_vis_receive_as_processes() {
    let Some(etcd) = etcd() else { return };
    let port = etcd.port();
    let db = db(&etcd).await;
    let tmp = TempDir::new("wfs");
    let state = tmp.path().join("state");
    let out = tmp.path().join("recv");
    let env = [
        ("SDP_DEPLOY_MODE", "process"),
        ("SDP_PROCESS_STATE_DIR", state.to_str().unwrap()),
        ("SDP_TESTSTATE_SECONDS", "1"),
        ("SDP_RECEIVE_OUTPUT", out.to_str().unwrap()),
    ];
    let _pc = Daemon::start(port, &["controller"], &env, &tmp.path().join("pc.log"));
    let _dep = Daemon::start(port, &["deployer"], &env, &tmp.path().join("dep.log"));
    let d = today();

    // teststate: executing, then error.
    sdpcfg_ok(port, &["process", "realtime:teststate:0.2.7"]);
    let ts = format!("realtime-{d}-0000");
    let st = eventually!(20, "teststate error", get_json(&db, &format!("/pb/{ts}/state")).await.filter(|s| s["state"] == "error"));
    assert_eq!(st["obsState"], "SCANNING-test");

    // testdeploy: deployments follow the PB's parameters.
    sdpcfg_ok(port, &["process", "realtime:testdeploy:0.1.0", "{a: {type: process, args: {command: [sleep, '300']}}}"]);
    let td = format!("realtime-{d}-0001");
    eventually!(20, "testdeploy a", get(&db, &format!("/deploy/{td}-a")).await);
    eventually!(10, "its process", when(pids_of(&state, &format!("{td}-a")).len() == 1));
    let mut pbv = get_json(&db, &format!("/pb/{td}")).await.unwrap();
    pbv["parameters"] = json!({"b": {"type": "process", "args": {"command": ["sleep", "301"]}}});
    sdpcfg_ok(port, &["update", &format!("/pb/{td}"), &pbv.to_string()]);
    eventually!(
        10,
        "a replaced by b",
        when(get_json(&db, &format!("/pb/{td}/state")).await.is_some_and(|s| s["deployments"] == json!([format!("{td}-b")])))
    );
    eventually!(10, "a gone", when(pids_of(&state, &format!("{td}-a")).is_empty() && pids_of(&state, &format!("{td}-b")).len() == 1));

    // vis_receive: a UDP receiver whose address is in the PB state.
    sdpcfg_ok(port, &["process", "realtime:vis_receive:0.1.0"]);
    let vr = format!("realtime-{d}-0002");
    let st = eventually!(20, "receive address", get_json(&db, &format!("/pb/{vr}/state")).await);
    let port_rx = st["receive_addresses"]["1"]["1"][1].as_u64().unwrap() as u16;
    eventually!(10, "receiver up", when(pids_of(&state, &format!("{vr}-vis-receive")).len() == 1));
    let file = out.join(format!("{vr}.vis"));
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    eventually!(10, "data received", {
        sock.send_to(b"visibilities", ("127.0.0.1", port_rx)).unwrap();
        when(std::fs::read(&file).is_ok_and(|b| b.starts_with(b"visibilities")))
    });

    // Defined but not implemented here (testdlg): the workflow says so and stays up.
    sdpcfg_ok(port, &["process", "realtime:testdlg:0.1.0"]);
    let dlg = format!("realtime-{d}-0003");
    let st = eventually!(20, "testdlg state", get_json(&db, &format!("/pb/{dlg}/state")).await);
    assert_eq!(st["status"], "FAILED");
    assert!(st["reason"].as_str().unwrap().contains("testdlg is not available"), "{st}");
    let pid = pids_of(&state, &format!("{dlg}-workflow"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(pids_of(&state, &format!("{dlg}-workflow")), pid, "not restarted");
    sdpcfg_ok(port, &["delete", &format!("/pb/{dlg}")]);

    // A PB re-created at once under a used id with an unknown workflow: the old
    // workflow deployment goes and the PB fails.
    sdpcfg_ok(port, &["process", "realtime:testdlg:0.1.0"]);
    eventually!(20, "testdlg owns it", get_json(&db, &format!("/pb/{dlg}/owner")).await);
    sdpcfg_ok(port, &["delete", &format!("/pb/{dlg}")]);
    sdpcfg_ok(port, &["process", "realtime:nonexistent:0.1.0"]);
    let st = eventually!(
        10,
        "FAILED",
        get_json(&db, &format!("/pb/{dlg}/state")).await.filter(|s| s["reason"].as_str().is_some_and(|r| r.contains("nonexistent")))
    );
    assert_eq!(st["status"], "FAILED");
    eventually!(10, "old workflow retired", when(get(&db, &format!("/deploy/{dlg}-workflow")).await.is_none()));
    sdpcfg_ok(port, &["delete", &format!("/pb/{dlg}")]);

    // Unknown workflow: FAILED once, no processes.
    sdpcfg_ok(port, &["process", "realtime:nonexistent:0.1.0"]);
    let st = eventually!(10, "FAILED", get_json(&db, &format!("/pb/realtime-{d}-0003/state")).await);
    assert_eq!(st["status"], "FAILED");

    for pb in ["0000", "0001", "0002", "0003"] {
        sdpcfg_ok(port, &["delete", &format!("/pb/realtime-{d}-{pb}")]);
    }
    eventually!(20, "database empty", when(keys_but_services(&db).await.is_empty()));
    eventually!(15, "no processes", when(recorded_pids(&state).is_empty()));
}

/// A deployer killed between writing a record and learning the pid leaves a record
/// without a pid; its successor finds the process by the token in its environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployer_finds_a_process_whose_start_was_not_recorded() {
    let Some(etcd) = etcd() else { return };
    let port = etcd.port();
    let tmp = TempDir::new("token");
    let state = tmp.path().join("state");
    std::fs::create_dir_all(state.join("t-orphan")).unwrap();
    let args = json!({"command": ["sleep", "300"]});
    sdpcfg_ok(port, &["create", "/deploy/t-orphan", &json!({"args": args, "deploy_id": "t-orphan", "type": "process"}).to_string()]);
    let token = "t-orphan-0-test-token";
    let rec = json!({"deploy_id": "t-orphan", "replica": 0, "pid": null, "start_time": null, "token": token,
                     "spec": sdp_config::json::dumps(&args)});
    std::fs::write(state.join("t-orphan/0.json"), rec.to_string()).unwrap();
    let child = std::process::Command::new("setsid").args(["sleep", "300"]).env("SDP_PROCESS_TOKEN", token).spawn().unwrap();
    let pid = child.id() as i32;
    eventually!(
        5,
        "exec",
        when(std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|e| e.windows(token.len()).any(|w| w == token.as_bytes())))
    );
    let state_s = state.display().to_string();
    let mut dep =
        Daemon::start(port, &["deployer", "--type", "process", "--state-dir", &state_s, "--grace", "1"], &[], &tmp.path().join("d.log"));
    eventually!(10, "adopted", when(pids_of(&state, "t-orphan") == vec![pid]));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(pids_of(&state, "t-orphan"), vec![pid], "not started twice");
    sdpcfg_ok(port, &["delete", "/deploy/t-orphan"]);
    eventually!(5, "stopped", when(!alive(pid) || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z"))));
    assert_eq!(dep.terminate(), Some(0));
    drop(child);
}

/// PB ids are reused (lowest free): a PB deleted and at once re-created under the same
/// id with another workflow ends up run by that workflow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pb_id_reused_at_once_gets_its_own_workflow() {
    let Some(etcd) = etcd() else { return };
    let port = etcd.port();
    let db = db(&etcd).await;
    let tmp = TempDir::new("reuse");
    let state = tmp.path().join("state");
    let env = [
        ("SDP_DEPLOY_MODE", "process"),
        ("SDP_PROCESS_STATE_DIR", state.to_str().unwrap()),
        ("SDP_TESTSTATE_SECONDS", "600"),
        ("SDP_DASK", "/nonexistent/dask"),
    ];
    let _pc = Daemon::start(port, &["controller"], &env, &tmp.path().join("pc.log"));
    let _dep = Daemon::start(port, &["deployer"], &env, &tmp.path().join("dep.log"));
    let pb = format!("realtime-{}-0000", today());
    sdpcfg_ok(port, &["process", "realtime:testdask:0.1.0"]);
    eventually!(20, "testdask owns it", get_json(&db, &format!("/pb/{pb}/owner")).await.filter(|o| o["command"][2] == "testdask"));
    sdpcfg_ok(port, &["delete", &format!("/pb/{pb}")]);
    assert_eq!(sdpcfg_ok(port, &["process", "realtime:teststate:0.2.7"]), format!("OK, pb_id = {pb}\n"));
    eventually!(30, "teststate owns it", get_json(&db, &format!("/pb/{pb}/owner")).await.filter(|o| o["command"][2] == "teststate"));
    let st = eventually!(10, "teststate state", get_json(&db, &format!("/pb/{pb}/state")).await.filter(|s| s["state"] == "executing"));
    assert_eq!(st["subarray"], "ON-test");
    let wf = get_json(&db, &format!("/deploy/{pb}-workflow")).await.unwrap();
    assert_eq!(wf["args"]["command"][2], "teststate");
    eventually!(10, "one workflow process", when(pids_of(&state, &format!("{pb}-workflow")).len() == 1));
    sdpcfg_ok(port, &["delete", &format!("/pb/{pb}")]);
    eventually!(20, "database empty", when(keys_but_services(&db).await.is_empty()));
    eventually!(15, "no processes", when(recorded_pids(&state).is_empty()));
}

/// A `/deploy` key that is not its entry's (validated) deploy_id, written past the library,
/// is ignored: `/deploy/..` would otherwise make the state dir's parent its directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_whose_key_is_not_its_id_is_ignored() {
    let Some(etcd) = etcd() else { return };
    let port = etcd.port();
    let db = db(&etcd).await;
    let tmp = TempDir::new("badid");
    let state = tmp.path().join("state");
    let marker = tmp.path().join("escaped");
    let touch = json!({"command": ["touch", marker.to_str().unwrap()]});
    for key in ["/deploy/..", "/deploy/other-id"] {
        db.create(key, &json!({"args": touch, "deploy_id": "escape", "type": "process"}).to_string(), None).await.unwrap();
    }
    let state_s = state.display().to_string();
    let mut dep =
        Daemon::start(port, &["deployer", "--type", "process", "--state-dir", &state_s, "--grace", "1"], &[], &tmp.path().join("d.log"));
    // a valid deployment created afterwards is started: the deployer has passed over the bad ones
    sdpcfg_ok(
        port,
        &[
            "create",
            "/deploy/t-good",
            &json!({"args": {"command": ["sleep", "300"]}, "deploy_id": "t-good", "type": "process"}).to_string(),
        ],
    );
    eventually!(10, "t-good started", when(pids_of(&state, "t-good").len() == 1));
    assert!(!marker.exists(), "a deployment under a key other than its id was run");
    assert!(!tmp.path().join("0.json").exists() && !state.join("other-id").exists());
    assert_eq!(recorded_pids(&state).len(), 1, "{:?}", recorded_pids(&state));
    let log = dep.log_text();
    assert!(log.contains("deployment \"..\" ignored: its deploy_id is \"escape\""), "{log}");
    assert!(log.contains("deployment \"other-id\" ignored"), "{log}");
    sdpcfg_ok(port, &["delete", "/deploy/t-good"]);
    eventually!(10, "t-good stopped", when(recorded_pids(&state).is_empty()));
    assert_eq!(dep.terminate(), Some(0));
}
