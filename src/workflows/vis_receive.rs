//! `vis_receive`: a visibility receiver as the PB's engine.
//!
//! Helm mode: deployment `<pb_id>-vis-receive`, chart `vis-receive`, no values (2019).
//! Process mode: deployment `<pb_id>-vis-receive` running `sdp workflow vis-receiver
//! <pb_id>`: a UDP receiver on 127.0.0.1 that appends every datagram to
//! `<output>/<pb_id>.vis`; the receive address goes into the PB state.

use super::Ctx;
use crate::deploy_mode::DeployMode;
use crate::error::Result;
use sdp_config::Deployment;
use serde_json::{json, Value};
use std::io::Write;

/// Internal workflow name of the receiver process itself.
pub const RECEIVER: &str = "vis-receiver";

fn output_dir() -> String {
    std::env::var("SDP_RECEIVE_OUTPUT")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| std::env::temp_dir().join("sdp-receive").display().to_string())
}

pub async fn run(ctx: &Ctx) -> Result<()> {
    let pb_id = ctx.pb_id().to_string();
    let id = format!("{pb_id}-vis-receive");
    match ctx.mode {
        DeployMode::Helm => {
            ctx.deploy(&[Deployment::new(&id, "helm", json!({"chart": "vis-receive"}))?]).await?;
            let mut state = json!({"status": "RUNNING"});
            if let Some(eb) = ctx.execution_block().await? {
                // the chart's service, as a receiver in the cluster is addressed
                state["receive_addresses"] = receive_addresses(&eb, &format!("{id}.receive"), 9000);
            }
            ctx.set_state(&state).await?;
        }
        DeployMode::Process => {
            let port = match ctx.deployment(&id).await? {
                Some(d) => d.args["env"]["SDP_RECEIVE_PORT"].as_str().and_then(|p| p.parse::<u16>().ok()),
                None => None,
            };
            let port = match port {
                Some(p) => p,
                None => std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port(),
            };
            let out = output_dir();
            let mut env = crate::deploy_mode::process_env(DeployMode::Process);
            env["SDP_RECEIVE_PORT"] = Value::String(port.to_string());
            env["SDP_RECEIVE_OUTPUT"] = Value::String(out.clone());
            let d = Deployment::new(
                &id,
                "process",
                json!({"command": [crate::deploy_mode::sdp_exe(), "workflow", RECEIVER, pb_id], "env": env}),
            )?;
            ctx.deploy(&[d]).await?;
            // a PB of an execution block publishes the recvaddrs layout; a 2019 PB the old one
            let addresses = match ctx.execution_block().await? {
                Some(eb) => receive_addresses(&eb, "127.0.0.1", port),
                None => json!({"1": {"1": ["127.0.0.1", port]}}),
            };
            ctx.set_state(&json!({"status": "RUNNING", "receive_addresses": addresses, "output": format!("{out}/{pb_id}.vis")})).await?;
        }
    }
    Ok(())
}

/// Receive addresses in the recvaddrs 0.5 layout: scan type → beam → `function`, `host`
/// [[first channel, host]], `port` [[first channel, port, increment]]. Every beam of every
/// scan type of the execution block is received by the one receiver (`host`:`port`).
pub fn receive_addresses(eb: &Value, host: &str, port: u16) -> Value {
    let function = |beam: &str| {
        eb["beams"]
            .as_array()
            .and_then(|bs| bs.iter().find(|b| b["beam_id"] == beam))
            .and_then(|b| b["function"].as_str())
            .unwrap_or("visibilities")
            .to_string()
    };
    let mut out = serde_json::Map::new();
    for st in eb["scan_types"].as_array().into_iter().flatten() {
        let Some(id) = st["scan_type_id"].as_str() else { continue };
        let mut beams: Vec<String> = st["beams"].as_object().map(|b| b.keys().cloned().collect()).unwrap_or_default();
        if beams.is_empty() {
            beams.push("vis0".into());
        }
        let per_beam: serde_json::Map<String, Value> =
            beams.iter().map(|b| (b.clone(), json!({"function": function(b), "host": [[0, host]], "port": [[0, port, 1]]}))).collect();
        out.insert(id.to_string(), Value::Object(per_beam));
    }
    Value::Object(out)
}

/// The receiver process: UDP on 127.0.0.1:$SDP_RECEIVE_PORT → `$SDP_RECEIVE_OUTPUT/<pb_id>.vis`.
pub async fn receiver(pb_id: &str) -> Result<()> {
    let port: u16 = std::env::var("SDP_RECEIVE_PORT").map_err(|_| "SDP_RECEIVE_PORT is not set")?.parse()?;
    let dir = output_dir();
    std::fs::create_dir_all(&dir)?;
    let path = format!("{dir}/{pb_id}.vis");
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
    let sock = tokio::net::UdpSocket::bind(("127.0.0.1", port)).await?;
    tracing::info!("receiving on udp://127.0.0.1:{port} into {path}");
    let mut stop = crate::signals::shutdown_signal();
    let mut buf = vec![0u8; 65536];
    let (mut packets, mut bytes) = (0u64, 0u64);
    loop {
        tokio::select! {
            r = sock.recv_from(&mut buf) => {
                let (n, _) = r?;
                file.write_all(&buf[..n])?;
                file.flush()?;
                packets += 1;
                bytes += n as u64;
            }
            _ = stop.changed() => {
                tracing::info!("received {packets} packets, {bytes} bytes");
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recvaddrs_layout_per_scan_type_and_beam() {
        let eb = json!({"beams": [{"beam_id": "vis0", "function": "visibilities"}, {"beam_id": "pss1", "function": "pulsar search"}],
                        "scan_types": [{"scan_type_id": "science", "beams": {"vis0": {}, "pss1": {}}}, {"scan_type_id": "cal"}]});
        assert_eq!(
            receive_addresses(&eb, "127.0.0.1", 9000),
            json!({"science": {"vis0": {"function": "visibilities", "host": [[0, "127.0.0.1"]], "port": [[0, 9000, 1]]},
                               "pss1": {"function": "pulsar search", "host": [[0, "127.0.0.1"]], "port": [[0, 9000, 1]]}},
                   "cal": {"vis0": {"function": "visibilities", "host": [[0, "127.0.0.1"]], "port": [[0, 9000, 1]]}}})
        );
    }
}
