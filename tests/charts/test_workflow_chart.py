"""The `workflow` chart, installed by the Helm deployer with the values the processing
controller writes to /deploy/<pb_id>-workflow."""
from __future__ import annotations

import json

import helm_python as helm
import pytest

import render
from conftest import WORKFLOW, Rendering, container, env

FULL = "test-sdp-prototype"


def set_string(values: dict) -> str:
    """The deployer's `--set k1=v1,k2=v2` from a deployment's args.values (stored key order)."""
    return ",".join(f"{k}={v}" for k, v in sorted(values.items()))


def install(deploy_id: str, values: dict, namespace: str) -> Rendering:
    """`helm install <deploy_id> workflow -n <namespace> --set ...`, rendered offline."""
    return Rendering(render.render(WORKFLOW, deploy_id, namespace, helm.parse_set_string(set_string(values))))


def test_the_seeds_deploy_entry_renders_the_workflow_deployment():
    # /deploy/realtime-20191121-0000-workflow exactly as in the seed's listing
    values = {
        "env.SDP_CONFIG_HOST": "sdp-prototype-etcd-client.default.svc.cluster.local",
        "env.SDP_HELM_NAMESPACE": "sdp",
        "pb_id": "realtime-20191121-0000",
        "wf_image": "nexus.engageska-portugal.pt/sdp-prototype/workflow-testdask:0.1.0",
    }
    r = install("realtime-20191121-0000-workflow", values, "sdp")
    assert render.validate(r.docs) == []
    (dep,) = r.docs
    assert dep["kind"] == "Deployment" and dep["metadata"]["name"] == "realtime-20191121-0000-workflow"
    assert dep["spec"]["replicas"] == 1
    c = container(dep)
    assert c["image"] == values["wf_image"]
    assert c["args"] == ["realtime-20191121-0000"] and "command" not in c  # the image's entrypoint runs the workflow
    assert env(c) == {"SDP_CONFIG_HOST": "sdp-prototype-etcd-client.default.svc.cluster.local",
                      "SDP_HELM_NAMESPACE": "sdp"}


def controller_deploy_values(umbrella, pb_id: str, workflow_id: str) -> dict:
    """What the controller of this release writes for a realtime PB (spec §3.1): its own
    SDP_CONFIG_HOST and SDP_HELM_NAMESPACE, the PB id and the workflow's image from the
    workflow definitions the chart gives it."""
    c = container(umbrella.get("Deployment", f"{FULL}-processing-controller"))
    e = env(c)
    defs = json.loads(umbrella.get("ConfigMap", f"{FULL}-workflows")["data"]["workflows.json"])
    repos = {r["name"]: r["path"] for r in defs["repositories"]}
    (w,) = [w for w in defs["workflows"] if w["id"] == workflow_id]
    return {
        "env.SDP_CONFIG_HOST": e["SDP_CONFIG_HOST"],
        "env.SDP_HELM_NAMESPACE": e["SDP_HELM_NAMESPACE"],
        "pb_id": pb_id,
        "wf_image": f"{repos[w['repository']]}/{w['image']}:{w['versions'][0]}",
    }


@pytest.mark.parametrize("workflow_id", ["testdask", "testdeploy", "teststate", "vis_receive"])
def test_this_releases_controller_values_give_a_workflow_that_reaches_etcd(umbrella, workflow_id):
    pb_id = "realtime-20191121-0000"
    values = controller_deploy_values(umbrella, pb_id, workflow_id)
    helm_ns = values["env.SDP_HELM_NAMESPACE"]
    assert helm_ns == "integration-sdp"
    # the deployer installs into its own SDP_HELM_NAMESPACE, where its Role lives
    deployer = env(container(umbrella.get("Deployment", f"{FULL}-helm-deploy")))
    assert deployer["SDP_HELM_NAMESPACE"] == helm_ns == umbrella.get("Role", f"{FULL}-helm")["metadata"]["namespace"]
    r = install(f"{pb_id}-workflow", values, helm_ns)
    assert render.validate(r.docs) == []
    c = container(r.get("Deployment", f"{pb_id}-workflow"))
    # the workflow runs in another namespace than etcd: the host must be fully qualified and
    # name the client service of this release
    host = env(c)["SDP_CONFIG_HOST"]
    assert host == f"{FULL}-etcd-client.integration.svc.cluster.local"
    assert host.split(".")[0] in umbrella.names("Service")
    assert env(c)["SDP_HELM_NAMESPACE"] == "integration-sdp"
    image = values["wf_image"]
    assert c["image"] == image == f"localhost:5000/ska-sdp-workflow-{workflow_id.replace('_', '-')}:0.1.0"
    assert c["args"] == [pb_id]


def test_pb_id_and_image_are_required():
    for missing in ("pb_id", "wf_image"):
        values = {"pb_id": "realtime-20191121-0000", "wf_image": "x:1"}
        del values[missing]
        with pytest.raises(helm.HelmError, match=f"value {missing} is required"):
            render.render(WORKFLOW, "realtime-20191121-0000-workflow", "integration-sdp", values)
