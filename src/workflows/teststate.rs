//! `teststate`: writes a test state into the PB, waits (`SDP_TESTSTATE_SECONDS`,
//! default 180), then marks it as `error`, as the 2019 test workflow did.

use super::Ctx;
use crate::error::Result;
use serde_json::json;
use std::time::Duration;

pub async fn run(ctx: &Ctx) -> Result<()> {
    let mut state = json!({
        "state": "executing",
        "subarray": "ON-test",
        "obsState": "SCANNING-test",
        "receiveAddresses": {"1": {"1": ["0.0.0.0", 1024]}},
    });
    ctx.set_state(&state).await?;
    let secs: f64 = std::env::var("SDP_TESTSTATE_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(180.0);
    tokio::time::sleep(Duration::from_secs_f64(secs.max(0.0))).await;
    state["state"] = json!("error");
    ctx.set_state(&state).await
}
