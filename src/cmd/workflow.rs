//! `sdp workflow <name> <pb_id>`: run one workflow for one processing block.

use clap::Args;

#[derive(Args, Debug)]
pub struct WorkflowArgs {
    /// testdask, testdeploy, teststate or vis_receive.
    name: String,
    /// The processing block to claim and run.
    pb_id: String,
}

pub fn run(a: WorkflowArgs) -> i32 {
    crate::runtime::block_on(crate::workflows::run(a.name, a.pb_id))
}
