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
            ctx.set_state(&json!({"status": "RUNNING"})).await?;
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
            ctx.set_state(&json!({"status": "RUNNING", "receive_addresses": {"1": {"1": ["127.0.0.1", port]}},
                                  "output": format!("{out}/{pb_id}.vis")}))
                .await?;
        }
    }
    Ok(())
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
