"""The secured rendering run for real: the bundled etcd's rendered arguments start Debian's etcd
(addresses, ports and paths moved to 127.0.0.1 and a temp dir, every TLS flag as rendered),
its readiness probe is asked as the kubelet would, and `sdpcfg` (built by `make build`) runs
with a rendered client environment, certificates and user taken from stand-in Secrets."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, container, render_umbrella
from test_etcd_security import AUTH, CLIENT_TLS, FULL, TLS_DIR, secured
from test_probe import free_port

ETCD, ETCDCTL = shutil.which("etcd"), shutil.which("etcdctl")
SDPCFG = ROOT / "target" / "debug" / "sdpcfg"
PASSWORD = "pw-in-a-secret"
pytestmark = pytest.mark.skipif(not (ETCD and ETCDCTL), reason="needs etcd and etcdctl (apt-get install etcd-server etcd-client)")


def openssl(d: Path, *args: str):
    subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)


def pki(d: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1 (server and client auth, as the chart asks
    of etcd.tls.serverSecret) and a client certificate."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(d, "req", "-x509", *ec, "-days", "2", "-subj", "/CN=sdp-test-ca", "-keyout", "ca.key", "-out", "ca.crt",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, ext in [("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")]:
        (d / f"{name}.ext").write_text(f"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n{ext}")
        openssl(d, "req", *ec, "-subj", f"/CN=sdp-test-{name}", "-keyout", f"{name}.key", "-out", f"{name}.csr")
        openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-out", f"{name}.crt", "-extfile", f"{name}.ext")
    return d


def mount_secret(spec: dict, mount: dict, secret: dict[str, Path], at: Path) -> Path:
    """What the kubelet makes of a Secret volume: the items of the volume, as files."""
    (vol,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    at.mkdir(parents=True)
    for item in vol["secret"].get("items") or [{"key": k, "path": k} for k in secret]:
        shutil.copy(secret[item["key"]], at / item["path"])
    return at


@pytest.fixture(scope="module")
def secured_etcd(tmp_path_factory):
    """The rendered etcd, TLS with client certificates, plus a user `sdp` and auth enabled."""
    tmp = tmp_path_factory.mktemp("etcd-tls")
    (tmp / "pki").mkdir()
    certs = pki(tmp / "pki")
    r = render_umbrella(secured())
    sts = r.get("StatefulSet", f"{FULL}-etcd")
    c = container(sts)
    spec = sts["spec"]["template"]["spec"]
    (tls_mount,) = [m for m in c["volumeMounts"] if m["name"] == "tls"]
    server_dir = mount_secret(spec, tls_mount, {"ca.crt": certs / "ca.crt", "tls.crt": certs / "server.crt",
                                                "tls.key": certs / "server.key"}, tmp / "server-secret")
    ports = {"client": free_port(), "peer": free_port(), "metrics": free_port()}
    numbers = {p["name"]: p["containerPort"] for p in c["ports"]}
    domain = f"{FULL}-etcd-headless.integration.svc.cluster.local"
    moves = [(f"$(POD_NAME).{domain}", "127.0.0.1"), (f"{FULL}-etcd-0.{domain}", "127.0.0.1"),
             ("$(POD_NAME)", "m0"), (f"{FULL}-etcd-0", "m0"), ("0.0.0.0", "127.0.0.1"),
             (tls_mount["mountPath"], str(server_dir)), ("/var/run/etcd", str(tmp / "data"))]
    moves += [(f":{numbers[n]}", f":{ports[n]}") for n in ports]
    args = []
    for a in c["args"]:
        for old, new in moves:
            a = a.replace(old, new)
        args.append(a)
    assert "--client-cert-auth" in args and f"--cert-file={server_dir}/tls.crt" in args
    proc = subprocess.Popen([ETCD, *args], stdout=open(tmp / "etcd.log", "w"), stderr=subprocess.STDOUT)
    try:
        probe = c["readinessProbe"]["httpGet"]
        health = f"http://127.0.0.1:{ports[probe['port']]}{probe['path']}"
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(health, timeout=2) as resp:
                    if json.loads(resp.read())["health"] == "true":
                        break
            except OSError:
                pass
            assert proc.poll() is None, (tmp / "etcd.log").read_text()
            assert time.monotonic() < deadline, "etcd did not become ready:\n" + (tmp / "etcd.log").read_text()
            time.sleep(0.2)
        # users, as docs/kubernetes.md says, with the server certificate as etcdctl's identity
        ctl = [ETCDCTL, f"--endpoints=https://127.0.0.1:{ports['client']}", f"--cacert={server_dir}/ca.crt",
               f"--cert={server_dir}/tls.crt", f"--key={server_dir}/tls.key"]
        for cmd in (["user", "add", "root:root-pw"], ["user", "grant-role", "root", "root"], ["user", "add", f"sdp:{PASSWORD}"],
                    ["role", "add", "sdp"], ["role", "grant-permission", "sdp", "readwrite", "0", ":"],
                    ["user", "grant-role", "sdp", "sdp"], ["auth", "enable"]):
            subprocess.run(ctl + cmd, check=True, capture_output=True, env={**os.environ, "ETCDCTL_API": "3"})
        yield {"r": r, "port": ports["client"], "certs": certs, "tmp": tmp, "health": health}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def client_env(setup: dict, workload: str, name: str, secrets: dict, at: Path) -> dict:
    """A rendered container's environment as its pod would have it: secretKeyRefs read from
    the stand-in Secrets, certificate files where the volume puts them (moved under `at`)."""
    dep = setup["r"].get("Deployment", f"{FULL}-{workload}")
    c = container(dep, name, init=name == "wait-for-config-db")
    spec = dep["spec"]["template"]["spec"]
    (mount,) = [m for m in c["volumeMounts"] if m["name"] == "sdp-config-tls"]
    files = mount_secret(spec, mount, secrets[CLIENT_TLS], at)
    out = {"PATH": os.environ["PATH"]}
    for e in c["env"]:
        if "value" in e:
            out[e["name"]] = e["value"].replace(TLS_DIR, str(files))
        elif "secretKeyRef" in e["valueFrom"]:
            ref = e["valueFrom"]["secretKeyRef"]
            out[e["name"]] = secrets[ref["name"]][ref["key"]]
    out.update(SDP_CONFIG_HOST="127.0.0.1", SDP_CONFIG_PORT=str(setup["port"]))
    return out


def run(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SDPCFG), *args], env=env, capture_output=True, text=True, timeout=30)


@pytest.mark.skipif(not SDPCFG.exists(), reason="needs target/debug/sdpcfg (make build)")
def test_sdpcfg_with_the_rendered_environment_uses_the_secured_etcd(secured_etcd):
    certs = secured_etcd["certs"]
    secrets = {CLIENT_TLS: {"ca.crt": certs / "ca.crt", "tls.crt": certs / "client.crt", "tls.key": certs / "client.key"},
               AUTH: {"username": "sdp", "password": PASSWORD}}
    tmp = secured_etcd["tmp"]
    e = client_env(secured_etcd, "processing-controller", "processing-controller", secrets, tmp / "controller-files")
    assert run(e, "create", "/chart-tls", "ok").returncode == 0
    got = run(e, "get", "/chart-tls")
    assert got.returncode == 0 and "ok" in got.stdout, got.stderr
    # the init container's loop command succeeds with its own rendering
    init = client_env(secured_etcd, "helm-deploy", "wait-for-config-db", secrets, tmp / "init-files")
    assert run(init, "ls", "/").returncode == 0
    # and each part is needed: without the client certificate, or with another password, etcd refuses
    no_cert = {k: v for k, v in e.items() if k not in ("SDP_CONFIG_CLIENT_CERT", "SDP_CONFIG_CLIENT_KEY")}
    assert run(no_cert, "get", "/chart-tls").returncode != 0
    assert run({**e, "SDP_CONFIG_PASSWORD": "wrong"}, "get", "/chart-tls").returncode != 0
    assert run({**e, "SDP_CONFIG_PROTOCOL": "http"}, "get", "/chart-tls").returncode != 0


def test_the_readiness_probe_needs_no_client_certificate_and_data_stays_behind_tls(secured_etcd):
    with urllib.request.urlopen(secured_etcd["health"], timeout=5) as resp:
        assert json.loads(resp.read())["health"] == "true"
    # the plain-http port serves no keys (the v3 JSON gateway is on the client port only)
    metrics = secured_etcd["health"].rsplit("/", 1)[0]
    req = urllib.request.Request(f"{metrics}/v3/kv/range", data=b'{"key": "AA=="}', method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 404
