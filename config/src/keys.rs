//! The key layout of the configuration DB, in one place.
//!
//! Every logical path the SDP writes or reads is built here, so that the layout can be read
//! (and changed) without searching the binaries for string literals. Paths are logical
//! (before the global prefix and the depth tag of [`crate::path`]); callers that work under a
//! prefix put it in front.
//!
//! | path | what |
//! |---|---|
//! | `/pb/<pb_id>` | processing block (2019 `workflow` layout, or the later `script` layout with `eb_id`) |
//! | `/pb/<pb_id>/state`, `/pb/<pb_id>/owner` | its state (workflow-written) and its claim |
//! | `/deploy/<deploy_id>`, `/deploy/<deploy_id>/state` | deployments |
//! | `/ownership/<pb_id>/<deploy_id>` | which PB owns which deployment ([`crate::ownership`]) |
//! | `/eb/<eb_id>`, `/eb/<eb_id>/state` | execution blocks (ADR-8 interface, [`crate::eb`]) |
//! | `/subarray/<id>`, `/master` | the 2019 devices' own state records |
//! | `/lmc/subarray/<id>` | an ADR-8 subarray's own state record |
//! | `/lmc/controller` | the ADR-8 controller device's own state record |

/// The directory of processing blocks, with its trailing `/` (a listing prefix).
pub const PB_DIR: &str = "/pb/";
/// The directory of deployments, with its trailing `/`.
pub const DEPLOY_DIR: &str = "/deploy/";
/// The directory of ownership records, with its trailing `/`.
pub const OWNERSHIP_DIR: &str = "/ownership/";
/// The directory of execution blocks, with its trailing `/`.
pub const EB_DIR: &str = "/eb/";

/// `/lmc/controller`: the state record of the ADR-8 controller device.
pub const LMC_CONTROLLER: &str = "/lmc/controller";

/// `/lmc/subarray/<id>`: the state record of an ADR-8 subarray.
pub fn lmc_subarray(id: &str) -> String {
    format!("/lmc/subarray/{id}")
}

/// `/pb/<pb_id>`
pub fn pb(pb_id: &str) -> String {
    format!("{PB_DIR}{pb_id}")
}

/// `/pb/<pb_id>/state`
pub fn pb_state(pb_id: &str) -> String {
    format!("{PB_DIR}{pb_id}/state")
}

/// `/pb/<pb_id>/owner`
pub fn pb_owner(pb_id: &str) -> String {
    format!("{PB_DIR}{pb_id}/owner")
}

/// `/deploy/<deploy_id>`
pub fn deploy(deploy_id: &str) -> String {
    format!("{DEPLOY_DIR}{deploy_id}")
}

/// `/deploy/<deploy_id>/state`
pub fn deploy_state(deploy_id: &str) -> String {
    format!("{DEPLOY_DIR}{deploy_id}/state")
}

/// `/ownership/<pb_id>/<deploy_id>`
pub fn ownership(pb_id: &str, deploy_id: &str) -> String {
    format!("{OWNERSHIP_DIR}{pb_id}/{deploy_id}")
}

/// `/eb/<eb_id>`
pub fn eb(eb_id: &str) -> String {
    format!("{EB_DIR}{eb_id}")
}

/// `/eb/<eb_id>/state`
pub fn eb_state(eb_id: &str) -> String {
    format!("{EB_DIR}{eb_id}/state")
}

/// What a logical path under `/pb/` names: the PB id and the rest below it (`""` for the PB
/// itself, `"state"`, `"owner"`); `None` outside `/pb/`.
pub fn split_pb(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix(PB_DIR)?;
    Some(rest.split_once('/').unwrap_or((rest, "")))
}

/// The deployment id of a logical path `/deploy/<id>` (or below it); `None` elsewhere.
pub fn split_deploy(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(DEPLOY_DIR)?;
    Some(rest.split_once('/').map_or(rest, |(id, _)| id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        assert_eq!(pb("x"), "/pb/x");
        assert_eq!(pb_state("x"), "/pb/x/state");
        assert_eq!(pb_owner("x"), "/pb/x/owner");
        assert_eq!(deploy("d"), "/deploy/d");
        assert_eq!(deploy_state("d"), "/deploy/d/state");
        assert_eq!(ownership("x", "d"), "/ownership/x/d");
        assert_eq!(eb("e"), "/eb/e");
        assert_eq!(eb_state("e"), "/eb/e/state");
        assert_eq!(lmc_subarray("01"), "/lmc/subarray/01");
        assert_eq!(split_pb("/pb/x/state"), Some(("x", "state")));
        assert_eq!(split_pb("/pb/x"), Some(("x", "")));
        assert_eq!(split_pb("/deploy/x"), None);
        assert_eq!(split_deploy("/deploy/d/state"), Some("d"));
        assert_eq!(split_deploy("/deploy/d"), Some("d"));
        assert_eq!(split_deploy("/pb/d"), None);
    }
}
