"""The processing controller and the process deployer SIGKILLed mid-operation (issue #11):
after they start again, every processing block has exactly its deployments — in etcd and as
live processes — with no duplicate (two processes for one replica) and no orphan (a deployment
or process whose PB is gone).

The PBs run the `testdeploy` workflow, whose parameters name the deployments it creates, so
each PB owns three: `<pb>-workflow` (made by the controller), `<pb>-sleeper` with several
replicas (made by the workflow), each a real local process run by the deployer. Processes are
counted from /proc (environment and process group), not from the deployer's own records."""

import json
import time

from conftest import kill9, live_replicas, wait_for

REPLICAS = 2
PARAMS = json.dumps({"sleeper": {"type": "process", "args": {"command": ["sleep", "300"], "replicas": REPLICAS}}})


def create_pb(etcd):
    out = etcd.sdpcfg("process", "realtime:testdeploy:0.1.0", PARAMS).stdout
    assert out.startswith("OK, pb_id = "), out
    return out.strip().split(" = ")[1]


def expected(pbs):
    want = {}
    for pb in pbs:
        want[f"{pb}-workflow"] = [0]
        want[f"{pb}-sleeper"] = list(range(REPLICAS))
    return want


def world(etcd, state_dir):
    """(deployments in etcd, ownership records, live replicas by deployment) right now."""
    deploys = sorted(k.split("/")[-1] for k in etcd.keys("2/deploy/"))
    owned = sorted(k.split("/", 2)[-1] for k in etcd.keys("3/ownership/"))
    live = {d: [r for r, _ in reps] for d, reps in live_replicas(state_dir).items()}
    return deploys, owned, live


def converged(etcd, state_dir, pbs):
    want = expected(pbs)
    deploys, owned, live = world(etcd, state_dir)
    return deploys == sorted(want) and owned == sorted(f"{d.rsplit('-', 1)[0]}/{d}" for d in want) and live == want


def assert_converges(etcd, sdp, pbs, timeout=40):
    ok = wait_for(lambda: converged(etcd, sdp.state_dir, pbs), timeout=timeout, interval=0.2)
    assert ok, (f"not converged to {expected(pbs)}: {world(etcd, sdp.state_dir)}\n--- controller ---\n"
                f"{sdp.log('controller.log')[-3000:]}\n--- deployer ---\n{sdp.log('deployer.log')[-3000:]}")
    # and it stays so: the same processes, nothing more started
    pids = live_replicas(sdp.state_dir)
    time.sleep(1.0)
    assert live_replicas(sdp.state_dir) == pids


def test_controller_killed_between_pb_creation_and_deployment(etcd_node, sdp_daemons):
    sdp = sdp_daemons
    sdp.start_deployer()
    sdp.start_controller()
    first = create_pb(etcd_node)
    assert_converges(etcd_node, sdp, [first])

    # PBs created while the controller is dead: nothing deploys them until it is back.
    kill9(sdp.controller)
    waiting = [create_pb(etcd_node) for _ in range(2)]
    assert not any(k.startswith(f"2/deploy/{pb}") for pb in waiting for k in etcd_node.keys("2/deploy/"))
    # and killed right after a PB appears, in whatever step it is in
    for _ in range(3):
        sdp.start_controller()
        waiting.append(create_pb(etcd_node))
        kill9(sdp.controller)
    # a PB deleted while the controller is dead leaves no orphan behind
    etcd_node.sdpcfg("delete", f"/pb/{first}")

    sdp.start_controller()
    assert_converges(etcd_node, sdp, waiting)
    assert not etcd_node.keys(f"2/pb/{first}") and not etcd_node.keys(f"3/pb/{first}")

    for pb in waiting:
        etcd_node.sdpcfg("delete", f"/pb/{pb}")
    assert_converges(etcd_node, sdp, [])


def test_deployer_killed_mid_deploy(etcd_node, sdp_daemons):
    sdp = sdp_daemons
    sdp.start_controller()
    sdp.start_deployer()
    pbs = []
    # Each round: a new PB, and the deployer SIGKILLed as soon as it has started the first
    # process of one of its deployments (the workflow's, then the sleepers' the workflow asks
    # for): the PB is half deployed, the rest is left to the next deployer.
    for stage in ("workflow", "sleeper", "workflow"):
        pbs.append(create_pb(etcd_node))
        target = f"{pbs[-1]}-{stage}"
        assert wait_for(lambda: target in live_replicas(sdp.state_dir), timeout=20, interval=0.01), \
            sdp.log("deployer.log")[-3000:]
        kill9(sdp.deployer)
        sdp.start_deployer()
    assert_converges(etcd_node, sdp, pbs)

    # the controller and the deployer both killed while a PB is deleted: nothing is left
    kill9(sdp.deployer)
    kill9(sdp.controller)
    etcd_node.sdpcfg("delete", f"/pb/{pbs[0]}")
    sdp.start_controller()
    sdp.start_deployer()
    assert_converges(etcd_node, sdp, pbs[1:])


def test_controller_and_deployer_ride_out_an_etcd_restart(etcd_node, sdp_daemons):
    """etcd SIGKILLed under a running controller and deployer, and started again on the same
    data: neither exits, and both carry on from the database (a PB created after the outage is
    deployed, one deleted after it is cleaned up)."""
    sdp = sdp_daemons
    sdp.start_controller()
    sdp.start_deployer()
    before = create_pb(etcd_node)
    assert_converges(etcd_node, sdp, [before])

    etcd_node.kill()
    time.sleep(1.0)  # let both notice the outage (their watches break)
    etcd_node.start(keep_port=True)
    assert sdp.controller.poll() is None and sdp.deployer.poll() is None
    after = create_pb(etcd_node)
    assert_converges(etcd_node, sdp, [before, after])
    etcd_node.sdpcfg("delete", f"/pb/{before}")
    assert_converges(etcd_node, sdp, [after])
    assert sdp.controller.poll() is None and sdp.deployer.poll() is None
