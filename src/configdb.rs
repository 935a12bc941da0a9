//! A component's link to the configuration database: connecting (waiting while it does not
//! answer) and announcing itself there as a live component (`sdp_config::alive`).

use crate::error::Result;
use sdp_config::Config;
use std::future::Future;
use std::time::Duration;

/// Connect to the configuration database as `SDP_CONFIG_*` says; waits (with a log
/// line every few attempts) while the database is not reachable yet. Bad settings and
/// refused credentials or certificates end the wait at once: they will not get better.
pub async fn connect() -> Result<Config> {
    patiently("configuration database not reachable yet", Config::from_env).await
}

/// Announce this process as component `name` (kind `kind`) in the configuration database:
/// its alive key is kept while it works (see [`sdp_config::alive`]). Waits, like
/// [`connect`], while the database does not answer.
pub async fn announce(config: &Config, name: &str, kind: &str) -> Result<sdp_config::Liveness> {
    let what = format!("cannot announce {name} in the configuration database yet");
    patiently(&what, || sdp_config::Liveness::start(config, sdp_config::ComponentInfo::new(name, kind))).await
}

/// Run a component as `name` (kind `kind`) of the configuration database: connect, announce,
/// `serve`, then withdraw the announcement however `serve` ended.
pub async fn serve_as(name: &str, kind: &str, serve: impl AsyncFnOnce(Config, &sdp_config::Liveness) -> Result<()>) -> Result<()> {
    let config = connect().await?;
    let alive = announce(&config, name, kind).await?;
    let r = serve(config, &alive).await;
    withdraw(alive).await;
    r
}

/// Try `attempt` until it succeeds, with backoff (0.2 s doubling to 5 s) and a log line every
/// few attempts saying `what`. Bad settings and refused credentials end the wait at once.
async fn patiently<T, F: Future<Output = sdp_config::Result<T>>>(what: &str, mut attempt: impl FnMut() -> F) -> Result<T> {
    let mut delay = Duration::from_millis(200);
    let mut tries = 0u32;
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(e @ (sdp_config::Error::Value(_) | sdp_config::Error::Access(_))) => return Err(e.into()),
            Err(e) => {
                tries += 1;
                if tries % 5 == 1 {
                    tracing::warn!("{what} ({e}); retrying");
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Withdraw a component's alive key at once (on a clean exit); a failure is only logged
/// (the key then expires with its lease).
pub async fn withdraw(alive: sdp_config::Liveness) {
    let name = alive.name().to_string();
    if let Err(e) = alive.stop().await {
        tracing::warn!("cannot withdraw the alive key of {name}: {e}");
    }
}
