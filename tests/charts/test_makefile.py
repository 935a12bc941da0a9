"""The Makefile's Kubernetes targets: what `make deploy_all KUBE_NAMESPACE=integration` and
friends would run (make -n: no cluster here), and the offline lint/template targets for real."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import render
from conftest import ROOT, UMBRELLA

VENV = Path(sys.executable).parents[1]


def make(*args: str, dry: bool = True) -> subprocess.CompletedProcess:
    # -o: treat the venv stamp as up to date (this test already runs inside that venv)
    cmd = ["make", "--no-print-directory", f"VENV={VENV}", "-o", f"{VENV}/.deps-stamp", *args]
    if dry:
        cmd.insert(1, "-n")
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)


def lines(out: str) -> list[str]:
    return [" ".join(l.split()) for l in out.replace("\\\n", " ").splitlines()]


def test_deploy_all_creates_both_namespaces_then_installs_or_upgrades():
    r = make("deploy_all", "KUBE_NAMESPACE=integration")
    assert r.returncode == 0, r.stderr
    cmds = lines(r.stdout)
    assert cmds[0] == "kubectl create namespace integration --dry-run=client -o yaml | kubectl apply -f -"
    assert cmds[1] == "kubectl create namespace integration-sdp --dry-run=client -o yaml | kubectl apply -f -"
    assert cmds[2].startswith("helm upgrade --install test charts/sdp-prototype --namespace integration "
                              "--set global.helmNamespace=integration-sdp ")


def test_release_and_sdp_namespace_can_be_chosen():
    r = make("deploy_all", "KUBE_NAMESPACE=int2", "HELM_RELEASE=sdp", "KUBE_NAMESPACE_SDP=workflows")
    helm_cmd = lines(r.stdout)[2]
    assert "helm upgrade --install sdp charts/sdp-prototype --namespace int2 --set global.helmNamespace=workflows" in helm_cmd


def test_delete_all_uninstalls_the_release_and_the_deployers_releases():
    cmds = lines(make("delete_all", "KUBE_NAMESPACE=integration").stdout)
    assert "helm uninstall test --namespace integration" in cmds
    assert "helm list -q --namespace integration-sdp | xargs -r helm uninstall --namespace integration-sdp" in cmds


def test_make_lint_runs_offline_and_is_clean():
    r = make("lint", dry=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "charts/sdp-prototype: ok" in r.stdout and "charts/workflow: ok" in r.stdout


def test_make_template_prints_what_deploy_all_installs():
    r = make("template", "KUBE_NAMESPACE=integration", dry=False)
    assert r.returncode == 0, r.stderr
    expected = render.render(UMBRELLA, "test", "integration", {"global": {"helmNamespace": "integration-sdp"}})
    assert render.manifests({"all": r.stdout}) == render.manifests(expected)
    assert "name: test-sdp-prototype-etcd-nodeport" in r.stdout
