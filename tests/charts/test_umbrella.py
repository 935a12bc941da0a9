"""The sdp-prototype chart, rendered for release `test` in namespace `integration`."""
from __future__ import annotations

import json

import pytest

import render
from conftest import UMBRELLA, WORKFLOW, Rendering, container, env, render_umbrella

FULL = "test-sdp-prototype"
CONFIG_HOST = f"{FULL}-etcd-client.integration.svc.cluster.local"
TANGO_HOST = "databaseds-tango-base-test:10000"
IMAGE = "localhost:5000/ska-sdp:0.1.0"


# ---- lint and schema ------------------------------------------------------------------------

@pytest.mark.parametrize("chart", [UMBRELLA, WORKFLOW], ids=lambda p: p.name)
def test_helm_lint_strict_is_clean(chart):
    assert render.lint(chart, render.LINT_VALUES.get(chart.name)) == []


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"tangods": {"subarrays": 3}, "etcd": {"replicas": 3, "nodePort": 30379, "persistence": {"enabled": False}}},
        {"tango-base": {"enabled": False}, "global": {"tangoHost": "tango-db.tango:10000"}},
        {"helm-deploy": {"createNamespace": True, "persistentVolumes": False},
         "global": {"imagePullSecrets": [{"name": "regcred"}]},
         "tango-base": {"databaseds": {"persistence": {"enabled": False}}, "itango": {"enabled": False}}},
    ],
    ids=["defaults", "3-subarrays-3-etcd", "external-tango-db", "namespace-secrets-no-itango"],
)
def test_every_manifest_passes_kubernetes_validate_strict(values):
    r = render_umbrella(values)
    assert r.docs, "nothing rendered"
    assert render.validate(r.docs) == []


def test_the_release_renders_exactly_these_objects(umbrella):
    kinds = {}
    for d in umbrella.docs:
        kinds.setdefault(d["kind"], set()).add(d["metadata"]["name"])
    assert kinds == {
        "StatefulSet": {f"{FULL}-etcd", "databaseds-tango-base-test"},
        "Service": {f"{FULL}-etcd-headless", f"{FULL}-etcd-client", f"{FULL}-etcd-nodeport",
                    "databaseds-tango-base-test"},
        "Deployment": {f"{FULL}-sdp-master", f"{FULL}-sdp-subarray-1", f"{FULL}-processing-controller",
                       f"{FULL}-helm-deploy"},
        "ConfigMap": {f"{FULL}-tangods", f"{FULL}-workflows"},
        "Pod": {"itango-tango-base-test"},
        "ServiceAccount": {f"{FULL}-helm"},
        "Role": {f"{FULL}-helm"},
        "RoleBinding": {f"{FULL}-helm"},
        "ClusterRole": {f"integration-{FULL}-helm-pv"},
        "ClusterRoleBinding": {f"integration-{FULL}-helm-pv"},
    }


def test_namespaced_objects_go_to_the_release_namespace_except_the_helm_rbac(umbrella):
    # Helm puts objects without metadata.namespace into the release namespace; only the RBAC of
    # the deployer names another one.
    explicit = {(d["kind"], d["metadata"].get("namespace")) for d in umbrella.docs if d["metadata"].get("namespace")}
    assert explicit == {("Role", "integration-sdp"), ("RoleBinding", "integration-sdp")}


# ---- etcd -----------------------------------------------------------------------------------

def test_etcd_is_a_statefulset_of_the_official_image_with_storage(umbrella):
    sts = umbrella.get("StatefulSet", f"{FULL}-etcd")
    c = container(sts)
    assert c["image"] == "quay.io/coreos/etcd:v3.5.17"
    assert sts["spec"]["replicas"] == 1
    assert sts["spec"]["serviceName"] == f"{FULL}-etcd-headless"
    args = c["args"]
    assert "--listen-client-urls=http://0.0.0.0:2379" in args
    assert f"--initial-cluster={FULL}-etcd-0=http://{FULL}-etcd-0.{FULL}-etcd-headless.integration.svc.cluster.local:2380" in args
    assert c["readinessProbe"]["httpGet"] == {"path": "/health", "port": "client"}
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert {"name": "data", "mountPath": "/var/run/etcd"} in c["volumeMounts"]


def test_etcd_nodeport_is_the_service_the_seed_looks_up(umbrella):
    svc = umbrella.get("Service", "test-sdp-prototype-etcd-nodeport")
    assert svc["spec"]["type"] == "NodePort"
    (port,) = svc["spec"]["ports"]
    assert port["port"] == 2379 and "nodePort" not in port  # Kubernetes picks it; NOTES say how to find it
    sts = umbrella.get("StatefulSet", f"{FULL}-etcd")
    assert svc["spec"]["selector"].items() <= sts["spec"]["template"]["metadata"]["labels"].items()
    client = umbrella.get("Service", f"{FULL}-etcd-client")
    assert client["spec"]["type"] == "ClusterIP" and client["spec"]["ports"][0]["port"] == 2379


def test_three_etcd_members_know_each_other_and_a_fixed_node_port():
    r = render_umbrella({"etcd": {"replicas": 3, "nodePort": 30379, "persistence": {"enabled": False}}})
    sts = r.get("StatefulSet", f"{FULL}-etcd")
    assert sts["spec"]["replicas"] == 3 and sts["spec"]["podManagementPolicy"] == "Parallel"
    (cluster,) = [a for a in container(sts)["args"] if a.startswith("--initial-cluster=")]
    members = cluster.split("=", 1)[1].split(",")
    assert [m.split("=")[0] for m in members] == [f"{FULL}-etcd-{i}" for i in range(3)]
    assert "volumeClaimTemplates" not in sts["spec"]
    assert sts["spec"]["template"]["spec"]["volumes"] == [{"name": "data", "emptyDir": {}}]
    assert r.get("Service", f"{FULL}-etcd-nodeport")["spec"]["ports"][0]["nodePort"] == 30379


# ---- Tango device servers -------------------------------------------------------------------

def dsconfig_of(r: Rendering) -> dict:
    """The dsconfig JSON of every server, merged (what the init containers register)."""
    cm = r.get("ConfigMap", f"{FULL}-tangods")
    merged: dict = {"servers": {}}
    for key, text in cm["data"].items():
        if key.endswith(".json"):
            for server, instances in json.loads(text)["servers"].items():
                merged["servers"].setdefault(server, {}).update(instances)
    return merged


@pytest.mark.parametrize("n", [1, 3])
def test_one_pod_per_device_server_registered_and_started_in_database_mode(n):
    r = render_umbrella({"tangods": {"subarrays": n}})
    servers = [("SDPMaster", "1", "sdp-master", "mid_sdp/elt/master")] + [
        ("SDPSubarray", str(i), f"sdp-subarray-{i}", f"mid_sdp/elt/subarray_{i}") for i in range(1, n + 1)]
    assert {x for x in r.names("Deployment") if "sdp-" in x[len(FULL):]} == {f"{FULL}-{s[2]}" for s in servers}
    cm = r.get("ConfigMap", f"{FULL}-tangods")
    for cls, inst, comp, device in servers:
        dep = r.get("Deployment", f"{FULL}-{comp}")
        assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"] == {"type": "Recreate"}
        c = container(dep)
        assert c["image"] == IMAGE
        assert c["command"] == [cls]
        assert c["args"] == [inst, "-ORBendPoint", "giop:tcp:$(POD_IP):45450"]
        e = env(c)
        assert e["TANGO_HOST"] == TANGO_HOST
        assert e["SDP_CONFIG_HOST"] == CONFIG_HOST and e["SDP_CONFIG_PORT"] == "2379"
        assert e["POD_IP"] == "status.podIP"
        # registration before the server starts: its own dsconfig file, loaded into TANGO_HOST
        reg = container(dep, "register", init=True)
        assert reg["command"] == ["sdp", "database", "load", f"/etc/sdp/{cls}-{inst}.json"]
        assert env(reg) == {"TANGO_HOST": TANGO_HOST}
        assert json.loads(cm["data"][f"{cls}-{inst}.json"]) == {
            "servers": {cls: {inst: {cls: {device: {"properties": {}}}}}}}
        # the probes ping the device (see test_probe.py for the script against real servers)
        for probe in ("readinessProbe", "livenessProbe"):
            assert c[probe]["exec"]["command"] == ["/etc/sdp/tango-ping", device]
        vols = dep["spec"]["template"]["spec"]["volumes"]
        assert vols == [{"name": "config", "configMap": {"name": f"{FULL}-tangods", "defaultMode": 0o555}}]
    assert dsconfig_of(r)["servers"].keys() == {"SDPMaster", "SDPSubarray"}
    assert sorted(dsconfig_of(r)["servers"]["SDPSubarray"]) == [str(i) for i in range(1, n + 1)]


def test_adr8_profile_registers_the_current_names_with_the_property():
    r = render_umbrella({"tangods": {"subarrays": 2, "interfaceProfile": "adr8"}})
    adr8 = {"properties": {"InterfaceProfile": ["adr8"]}}
    assert dsconfig_of(r) == {"servers": {
        "SDPMaster": {"1": {"SDPController": {"mid-sdp/control/0": adr8}}},
        "SDPSubarray": {"1": {"SDPSubarray": {"mid-sdp/subarray/01": adr8}},
                        "2": {"SDPSubarray": {"mid-sdp/subarray/02": adr8}}}}}
    # the executables stay SDPMaster / SDPSubarray; the property chooses the profile
    assert container(r.get("Deployment", f"{FULL}-sdp-master"))["command"] == ["SDPMaster"]
    probe = container(r.get("Deployment", f"{FULL}-sdp-subarray-2"))["readinessProbe"]["exec"]["command"]
    assert probe == ["/etc/sdp/tango-ping", "mid-sdp/subarray/02"]
    assert env(container(r.get("Deployment", f"{FULL}-sdp-master")))["SDP_INTERFACE_PROFILE"] == "adr8"
    default = render_umbrella({})
    assert "SDP_INTERFACE_PROFILE" not in env(container(default.get("Deployment", f"{FULL}-sdp-subarray-1")))


def test_registered_devices_match_the_projects_device_list(umbrella):
    """devices/devices.json (the project's device list, dsconfig format) is what the chart
    registers with the default single subarray."""
    path = UMBRELLA.parents[1] / "devices" / "devices.json"
    if not path.exists():
        pytest.skip("devices/devices.json is not in this tree yet (it comes with the Tango database work)")
    assert dsconfig_of(umbrella) == {"servers": json.loads(path.read_text())["servers"]}


def test_tango_host_is_configurable_when_tango_base_is_off():
    r = render_umbrella({"tango-base": {"enabled": False}, "global": {"tangoHost": "tango-db.tango:10000"}})
    assert "databaseds-tango-base-test" not in r.names("StatefulSet") and not r.all("Pod")
    for name in (f"{FULL}-sdp-master", f"{FULL}-sdp-subarray-1"):
        assert env(container(r.get("Deployment", name)))["TANGO_HOST"] == "tango-db.tango:10000"


# ---- tango-base (Tango database and itango) ---------------------------------------------------

def test_tango_database_service_and_itango_pod_as_in_the_seed(umbrella):
    svc = umbrella.get("Service", "databaseds-tango-base-test")
    assert [p["port"] for p in svc["spec"]["ports"]] == [10000]
    db = umbrella.get("StatefulSet", "databaseds-tango-base-test")
    c = container(db)
    assert c["command"] == ["sdp", "database"]
    assert c["args"] == ["--host", "$(POD_IP)", "--port", "10000", "--state-dir", "/var/lib/tango-db"]
    assert svc["spec"]["selector"].items() <= db["spec"]["template"]["metadata"]["labels"].items()
    assert db["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "state"
    pod = umbrella.get("Pod", "itango-tango-base-test")
    it = container(pod)
    assert it["image"] == "localhost:5000/ska-sdp-itango:0.1.0"
    assert env(it)["TANGO_HOST"] == TANGO_HOST
    assert "kubectl exec -it itango-tango-base-test -n integration -- /venv/bin/itango3" in umbrella.notes


# ---- processing controller and Helm deployer --------------------------------------------------

def test_processing_controller_environment_and_workflow_definitions(umbrella):
    dep = umbrella.get("Deployment", f"{FULL}-processing-controller")
    c = container(dep)
    assert c["command"] == ["sdp", "controller"]
    assert env(c) == {"SDP_CONFIG_HOST": CONFIG_HOST, "SDP_CONFIG_PORT": "2379",
                      "SDP_HELM_NAMESPACE": "integration-sdp", "SDP_WORKFLOWS_FILE": "/etc/sdp/workflows.json"}
    wf = json.loads(umbrella.get("ConfigMap", f"{FULL}-workflows")["data"]["workflows.json"])
    assert {w["id"] for w in wf["workflows"]} == {"testdask", "testdeploy", "teststate", "vis_receive"}
    assert {r["name"] for r in wf["repositories"]} >= {w["repository"] for w in wf["workflows"]}
    init = container(dep, "wait-for-config-db", init=True)
    assert "sdpcfg ls /" in init["command"][-1] and env(init)["SDP_CONFIG_HOST"] == CONFIG_HOST


def test_helm_deployer_runs_with_its_service_account_in_the_sdp_namespace(umbrella):
    dep = umbrella.get("Deployment", f"{FULL}-helm-deploy")
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"] == {"type": "Recreate"}
    spec = dep["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == f"{FULL}-helm"
    c = container(dep)
    assert c["command"] == ["sdp", "deployer"] and c["args"] == ["helm"]
    assert c["workingDir"] == "/opt/sdp/charts"  # the workflow chart is baked in there (Dockerfile)
    e = env(c)
    assert e["SDP_HELM_NAMESPACE"] == "integration-sdp" and e["SDP_CONFIG_HOST"] == CONFIG_HOST
    assert e["SDP_HELM"] == "helm" and e["SDP_HELM_TIMEOUT"] == "300"
    assert all(e[k].startswith("/tmp/helm/") for k in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"))


def test_helm_deployer_rbac_lives_in_the_sdp_namespace(umbrella):
    role = umbrella.get("Role", f"{FULL}-helm")
    binding = umbrella.get("RoleBinding", f"{FULL}-helm")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "integration-sdp"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"{FULL}-helm"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": f"{FULL}-helm", "namespace": "integration"}]
    allowed = {(g, r): set(rule["verbs"]) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    crud = {"get", "list", "create", "update", "patch", "delete"}
    # what helm install/uninstall of the workflow and dask charts touches; releases are Secrets
    for need in [("", "secrets"), ("", "pods"), ("", "services"), ("", "configmaps"),
                 ("", "persistentvolumeclaims"), ("apps", "deployments"), ("batch", "jobs")]:
        assert crud <= allowed[need], need
    assert not any("*" in rule["verbs"] or "*" in rule["resources"] for rule in role["rules"])
    pv = umbrella.get("ClusterRole", f"integration-{FULL}-helm-pv")
    assert pv["rules"] == [{"apiGroups": [""], "resources": ["persistentvolumes"],
                            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]
    crb = umbrella.get("ClusterRoleBinding", f"integration-{FULL}-helm-pv")
    assert crb["subjects"] == binding["subjects"]


def test_helm_namespace_follows_the_release_namespace_or_the_override():
    r = render_umbrella(namespace="staging")
    assert r.get("Role", f"{FULL}-helm")["metadata"]["namespace"] == "staging-sdp"
    r = render_umbrella({"global": {"helmNamespace": "sdp"}, "helm-deploy": {"createNamespace": True}})
    assert r.get("Role", f"{FULL}-helm")["metadata"]["namespace"] == "sdp"
    assert r.names("Namespace") == {"sdp"}
    assert env(container(r.get("Deployment", f"{FULL}-processing-controller")))["SDP_HELM_NAMESPACE"] == "sdp"


# ---- every pod ---------------------------------------------------------------------------------

def pod_specs(r: Rendering):
    for d in r.docs:
        if d["kind"] in ("Deployment", "StatefulSet"):
            yield d["metadata"]["name"], d["spec"]["template"]["spec"]
        elif d["kind"] == "Pod":
            yield d["metadata"]["name"], d["spec"]


def test_every_pod_runs_non_root_without_privileges(umbrella):
    for name, spec in pod_specs(umbrella):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for c in spec.get("initContainers", []) + spec["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}, (name, c["name"])


def test_image_registry_and_tag_come_from_global_values():
    r = render_umbrella({"global": {"image": {"registry": "registry.example.org/sdp", "tag": "1.2.3"}}})
    dep = r.get("Deployment", f"{FULL}-sdp-master")
    assert container(dep)["image"] == "registry.example.org/sdp/ska-sdp:1.2.3"
    assert container(r.get("Pod", "itango-tango-base-test"))["image"] == "registry.example.org/sdp/ska-sdp-itango:1.2.3"


def test_release_name_containing_the_chart_name_is_not_repeated():
    r = render_umbrella(release="sdp-prototype")
    assert "sdp-prototype-etcd-nodeport" in r.names("Service")
    assert "itango-tango-base-sdp-prototype" in r.names("Pod")  # the seed's kubectl exec target


def test_notes_tell_how_to_find_sdp_config_port(umbrella):
    n = umbrella.notes
    assert "kubectl get service test-sdp-prototype-etcd-nodeport -n integration" in n
    assert "export SDP_CONFIG_PORT=" in n and "SDP_CONFIG_HOST" in n
    assert "minikube service --url test-sdp-prototype-etcd-nodeport -n integration" in n
    assert "kubectl get pod -n integration-sdp" in n
    assert "DeviceProxy('mid_sdp/elt/subarray_1')" in n
