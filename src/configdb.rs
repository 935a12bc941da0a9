//! A component's link to the configuration database: connecting (waiting while it does not
//! answer) and announcing itself there as a live component (`sdp_config::alive`).

use crate::error::Result;
use sdp_config::Config;
use std::time::Duration;

/// Connect to the configuration database as `SDP_CONFIG_*` says; waits (with a log
/// line every few attempts) while the database is not reachable yet. Bad settings and
/// refused credentials or certificates end the wait at once: they will not get better.
pub async fn connect() -> Result<Config> {
    let mut delay = Duration::from_millis(200);
    let mut attempt = 0u32;
    loop {
        match Config::from_env().await {
            Ok(c) => return Ok(c),
            Err(e @ (sdp_config::Error::Value(_) | sdp_config::Error::Access(_))) => return Err(e.into()),
            Err(e) => {
                attempt += 1;
                if attempt % 5 == 1 {
                    tracing::warn!("configuration database not reachable yet ({e}); retrying");
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Announce this process as component `name` (kind `kind`) in the configuration database:
/// its alive key is kept while it works (see [`sdp_config::alive`]). Waits, like
/// [`connect`], while the database does not answer.
pub async fn announce(config: &Config, name: &str, kind: &str) -> Result<sdp_config::Liveness> {
    let mut delay = Duration::from_millis(200);
    let mut attempt = 0u32;
    loop {
        match sdp_config::Liveness::start(config, sdp_config::ComponentInfo::new(name, kind)).await {
            Ok(l) => return Ok(l),
            Err(e @ (sdp_config::Error::Value(_) | sdp_config::Error::Access(_))) => return Err(e.into()),
            Err(e) => {
                attempt += 1;
                if attempt % 5 == 1 {
                    tracing::warn!("cannot announce {name} in the configuration database yet ({e}); retrying");
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
