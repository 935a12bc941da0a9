"""etcd TLS and authentication through the charts (global.etcd, etcd.tls.serverSecret): every
configuration-DB client gets the SDP_CONFIG_* variables config/src/etcd.rs reads and the
certificates as a read-only Secret volume, the bundled etcd serves TLS, and the Helm deployer
hands the Secret names (never their contents) to the workflows it installs."""
from __future__ import annotations

import json

import helm_python as helm
import pytest

import render
from conftest import UMBRELLA, WORKFLOW, Rendering, container, env, render_umbrella
from test_umbrella import FULL, IMAGE, pod_specs
from test_workflow_chart import controller_deploy_values, install

TLS_DIR = "/var/run/secrets/sdp-config/tls"
CLIENT_TLS, AUTH, SERVER_TLS = "etcd-client-tls", "etcd-auth", "etcd-server-tls"


def secured(tls=True, client_auth=True, auth=True) -> dict:
    e: dict = {"tls": {"enabled": tls, "secret": CLIENT_TLS if tls else "", "clientAuth": client_auth},
               "auth": {"secret": AUTH if auth else ""}}
    return {"global": {"etcd": e}, "etcd": {"tls": {"serverSecret": SERVER_TLS}}}


SECURITY_VARS = {"SDP_CONFIG_PROTOCOL", "SDP_CONFIG_CERT", "SDP_CONFIG_CLIENT_CERT", "SDP_CONFIG_CLIENT_KEY",
                 "SDP_CONFIG_USERNAME", "SDP_CONFIG_PASSWORD"}
# What each configuration-DB client must see with TLS, client certificates and a user.
FULL_ENV = {
    "SDP_CONFIG_PROTOCOL": "https",
    "SDP_CONFIG_CERT": f"{TLS_DIR}/ca.crt",
    "SDP_CONFIG_CLIENT_CERT": f"{TLS_DIR}/tls.crt",
    "SDP_CONFIG_CLIENT_KEY": f"{TLS_DIR}/tls.key",
    "SDP_CONFIG_USERNAME": f"secret:{AUTH}/username",
    "SDP_CONFIG_PASSWORD": f"secret:{AUTH}/password",
}
# Every container that talks to etcd, by (workload, container): found by rendering (those
# with SDP_CONFIG_HOST); the test below checks that no other container of our image needs it.
CLIENTS = {(f"{FULL}-{w}", c) for w in ("sdp-master", "sdp-subarray-1", "processing-controller", "helm-deploy")
           for c in ("wait-for-config-db", w)}


def containers(r: Rendering):
    """(workload name, container, pod spec) of every container, init containers included."""
    for name, spec in pod_specs(r):
        for c in spec.get("initContainers", []) + spec["containers"]:
            yield name, c, spec


def config_clients(r: Rendering):
    return [(n, c, s) for n, c, s in containers(r) if "SDP_CONFIG_HOST" in env(c)]


def security_env(c: dict) -> dict:
    return {k: v for k, v in env(c).items() if k in SECURITY_VARS}


def secret_volume(spec: dict, mount: dict) -> dict:
    (vol,) = [v for v in spec.get("volumes", []) if v["name"] == mount["name"]]
    return vol["secret"]


def files_of(c: dict, spec: dict) -> dict[str, str]:
    """{path in the container: key of the Secret} for every Secret volume mounted in c."""
    out = {}
    for m in c.get("volumeMounts", []):
        vol = [v for v in spec.get("volumes", []) if v["name"] == m["name"]][0]
        if "secret" in vol:
            assert m.get("readOnly") is True, (c["name"], m)
            for item in vol["secret"]["items"]:
                out[f"{m['mountPath']}/{item['path']}"] = (vol["secret"]["secretName"], item["key"])
    return out


# ---- lint, schema, failures -------------------------------------------------------------------

VARIANTS = {
    "tls": secured(client_auth=False, auth=False),
    "mtls-auth": secured(),
    "auth-only": secured(tls=False),
    "mtls-auth-3-etcd": {**secured(), "etcd": {"replicas": 3, "tls": {"serverSecret": SERVER_TLS}}},
}


@pytest.mark.parametrize("values", VARIANTS.values(), ids=VARIANTS.keys())
def test_secured_renderings_lint_and_validate(values):
    assert render.lint(UMBRELLA, values) == []
    assert render.validate(render_umbrella(values).docs) == []


def test_the_workflow_chart_lints_with_the_settings():
    values = {**render.LINT_VALUES["workflow"], **secured()}
    del values["etcd"]
    assert render.lint(WORKFLOW, values) == []


@pytest.mark.parametrize("values,needs", [
    ({"global": {"etcd": {"tls": {"enabled": True}}}, "etcd": {"tls": {"serverSecret": SERVER_TLS}}}, "global.etcd.tls.secret"),
    ({"global": {"etcd": {"tls": {"enabled": True, "secret": CLIENT_TLS}}}}, "etcd.tls.serverSecret"),
])
def test_tls_without_its_secrets_is_refused_by_name(values, needs):
    with pytest.raises(helm.HelmError, match=needs.replace(".", r"\.")):
        render_umbrella(values)
    if needs.startswith("global"):
        with pytest.raises(helm.HelmError, match=needs.replace(".", r"\.")):
            render.render(WORKFLOW, "x-workflow", "integration-sdp", {**render.LINT_VALUES["workflow"], **values})


# ---- the clients -------------------------------------------------------------------------------

def test_every_config_db_client_gets_the_variables_and_the_certificates():
    r = render_umbrella(secured())
    found = config_clients(r)
    assert {(n, c["name"]) for n, c, _ in found} == CLIENTS
    for name, c, spec in found:
        assert security_env(c) == FULL_ENV, (name, c["name"])
        # every certificate the variables name is a file of the Secret, mounted read-only
        files = files_of(c, spec)
        assert files == {f"{TLS_DIR}/{k}": (CLIENT_TLS, k) for k in ("ca.crt", "tls.crt", "tls.key")}, (name, c["name"])
        (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == TLS_DIR]
        # the pods run as 10001 with fsGroup 10001: group-readable, nobody else
        assert secret_volume(spec, mount)["defaultMode"] == 0o440 and spec["securityContext"]["fsGroup"] == 10001


def test_no_other_container_of_the_project_image_talks_to_etcd():
    """The containers of our image left without the variables only speak Tango: the device
    registration and the Tango database."""
    r = render_umbrella(secured())
    others = [(n, c) for n, c, _ in containers(r) if c["image"] == IMAGE and (n, c["name"]) not in CLIENTS]
    assert sorted((n, c["name"]) for n, c in others) == [
        ("databaseds-tango-base-test", "databaseds"),
        (f"{FULL}-sdp-master", "register"), (f"{FULL}-sdp-subarray-1", "register")]
    for _, c in others:
        assert c["command"][:2] in (["sdp", "database"],) and not (SECURITY_VARS & env(c).keys())


def test_server_tls_only_gives_https_and_the_ca():
    r = render_umbrella(secured(client_auth=False, auth=False))
    for name, c, spec in config_clients(r):
        assert security_env(c) == {"SDP_CONFIG_PROTOCOL": "https", "SDP_CONFIG_CERT": f"{TLS_DIR}/ca.crt"}, (name, c["name"])
        assert files_of(c, spec) == {f"{TLS_DIR}/ca.crt": (CLIENT_TLS, "ca.crt")}


def test_auth_only_gives_the_user_from_its_secret_and_no_volume():
    r = render_umbrella(secured(tls=False))
    for name, c, spec in config_clients(r):
        assert security_env(c) == {"SDP_CONFIG_USERNAME": f"secret:{AUTH}/username",
                                   "SDP_CONFIG_PASSWORD": f"secret:{AUTH}/password"}, (name, c["name"])
        assert files_of(c, spec) == {}
    sts = r.get("StatefulSet", f"{FULL}-etcd")
    assert "--listen-client-urls=http://0.0.0.0:2379" in container(sts)["args"]


def test_credentials_never_appear_in_values_configmaps_or_command_lines():
    r = render_umbrella(secured())
    for name, c, _ in containers(r):
        for e in c.get("env", []):
            if e["name"] in ("SDP_CONFIG_USERNAME", "SDP_CONFIG_PASSWORD"):
                assert "value" not in e and e["valueFrom"]["secretKeyRef"]["name"] == AUTH, (name, c["name"])
        words = " ".join(c.get("command", []) + c.get("args", []))
        assert "PASSWORD" not in words and "USERNAME" not in words and AUTH not in words, (name, c["name"])
    for cm in r.all("ConfigMap"):
        text = json.dumps(cm["data"])
        assert AUTH not in text and CLIENT_TLS not in text and "SDP_CONFIG_" not in text, cm["metadata"]["name"]
    # the charts create no Secret: the user's exist already
    assert not r.all("Secret")


def test_disabled_by_default_nothing_new_is_rendered(umbrella):
    for name, c, spec in containers(umbrella):
        assert not (SECURITY_VARS & env(c).keys()), (name, c["name"])
        assert "SDP_HELM_VALUES" not in env(c), (name, c["name"])
        assert not any(v["name"] == "sdp-config-tls" for v in spec.get("volumes", [])), name
    c = container(umbrella.get("StatefulSet", f"{FULL}-etcd"))
    assert not [a for a in c["args"] if "https" in a or "-file=" in a or "cert-auth" in a or "metrics" in a]
    assert [p["name"] for p in c["ports"]] == ["client", "peer"]


# ---- the bundled etcd --------------------------------------------------------------------------

@pytest.mark.parametrize("client_auth", [True, False], ids=["mtls", "tls"])
def test_bundled_etcd_serves_tls_and_is_probed_over_plain_http_health(client_auth):
    r = render_umbrella({**secured(client_auth=client_auth), "etcd": {"replicas": 3, "tls": {"serverSecret": SERVER_TLS}}})
    sts = r.get("StatefulSet", f"{FULL}-etcd")
    c = container(sts)
    args = c["args"]
    domain = f"{FULL}-etcd-headless.integration.svc.cluster.local"
    certs = "/var/run/secrets/etcd/tls"
    assert "--listen-client-urls=https://0.0.0.0:2379" in args
    assert f"--advertise-client-urls=https://$(POD_NAME).{domain}:2379" in args
    assert "--listen-peer-urls=https://0.0.0.0:2380" in args
    (cluster,) = [a for a in args if a.startswith("--initial-cluster=")]
    assert cluster.split("=", 1)[1].split(",") == [f"{FULL}-etcd-{i}=https://{FULL}-etcd-{i}.{domain}:2380" for i in range(3)]
    want = {f"--cert-file={certs}/tls.crt", f"--key-file={certs}/tls.key",
            f"--peer-cert-file={certs}/tls.crt", f"--peer-key-file={certs}/tls.key",
            f"--peer-trusted-ca-file={certs}/ca.crt", "--peer-client-cert-auth",
            "--listen-metrics-urls=http://0.0.0.0:2381"}
    assert want <= set(args)
    client_ca = {"--client-cert-auth", f"--trusted-ca-file={certs}/ca.crt"}
    assert (client_ca <= set(args)) if client_auth else not (client_ca & set(args))
    # the kubelet has no client certificate: /health on the plain-http metrics port
    assert c["readinessProbe"]["httpGet"] == {"path": "/health", "port": "metrics"}
    assert {"name": "metrics", "containerPort": 2381} in c["ports"]
    assert c["livenessProbe"]["tcpSocket"] == {"port": "client"}
    spec = sts["spec"]["template"]["spec"]
    (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == certs]
    assert mount["readOnly"] is True
    assert secret_volume(spec, mount) == {"secretName": SERVER_TLS, "defaultMode": 0o440}
    assert "volumeClaimTemplates" in sts["spec"]  # persistence stays as it was


# ---- workflows, through the Helm deployer ------------------------------------------------------

def flatten(values: dict, prefix: str = "") -> dict:
    """Nested values as dotted keys, as the deployer flattens them (src/deployer/helm.rs)."""
    out = {}
    for k, v in values.items():
        key = f"{prefix}.{k}" if prefix else k
        out.update(flatten(v, key) if isinstance(v, dict) else {key: v})
    return out


def as_set_value(v) -> str:
    return json.dumps(v) if isinstance(v, bool) else str(v)


@pytest.mark.parametrize("variant", ["mtls-auth", "tls", "auth-only"])
def test_workflows_get_what_the_release_gives_its_own_clients(variant):
    values = {"mtls-auth": secured(), "tls": secured(client_auth=False, auth=False), "auth-only": secured(tls=False)}[variant]
    r = render_umbrella(values)
    deployer = env(container(r.get("Deployment", f"{FULL}-helm-deploy")))
    site = json.loads(deployer["SDP_HELM_VALUES"])
    # Secret names and switches only
    assert set(flatten(site)) <= {"global.etcd.tls.enabled", "global.etcd.tls.secret", "global.etcd.tls.clientAuth",
                                  "global.etcd.auth.secret"}
    # what the deployer installs: the controller's /deploy values over its site values
    pb_id = "realtime-20191121-0000"
    wanted = {**{k: as_set_value(v) for k, v in flatten(site).items()}, **controller_deploy_values(r, pb_id, "testdask")}
    wf = install(f"{pb_id}-workflow", wanted, "integration-sdp")
    assert render.validate(wf.docs) == []
    (dep,) = wf.docs
    wc = container(dep)
    wspec = dep["spec"]["template"]["spec"]
    # the same security variables and certificate files as the release's controller
    ctl = r.get("Deployment", f"{FULL}-processing-controller")
    cc = container(ctl, "processing-controller")
    assert security_env(wc) == security_env(cc) and security_env(wc)
    assert files_of(wc, wspec) == files_of(cc, ctl["spec"]["template"]["spec"])
    assert env(wc)["SDP_CONFIG_HOST"] == f"{FULL}-etcd-client.integration.svc.cluster.local"
    if variant != "auth-only":
        (mount,) = wc["volumeMounts"]
        assert secret_volume(wspec, mount)["defaultMode"] == 0o440 and wspec["securityContext"]["fsGroup"] == 10001


def test_notes_tell_users_outside_the_cluster_what_to_set(umbrella):
    notes = render_umbrella(secured()).notes
    assert "SDP_CONFIG_PROTOCOL=https" in notes and f"Secret {CLIENT_TLS}" in notes and f"Secret {AUTH}" in notes
    assert "kubectl port-forward -n integration service/test-sdp-prototype-etcd-client 2379" in notes
    assert "https" not in umbrella.notes and "SDP_CONFIG_USERNAME" not in umbrella.notes
