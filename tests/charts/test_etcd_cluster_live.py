"""The chart's etcd with `replicas: 3` forms a working cluster (issue #20): the StatefulSet's
rendered arguments, run by Debian's etcd, one member per loopback address standing in for each
pod (127.0.0.1/2/3: the pods' DNS names resolved as the cluster's DNS would, the same ports on
each, as each pod has its own IP). The three elect a leader, a write through one member is read
through another, and the cluster survives the loss of one."""

import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import container, render_umbrella

FULL = "test-sdp-prototype"
DOMAIN = f"{FULL}-etcd-headless.integration.svc.cluster.local"
ETCD = shutil.which("etcd")


def ctl(endpoints, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL")}
    return subprocess.run(["etcdctl", "--endpoints", endpoints, "--command-timeout=3s", *args],
                          env={**env, "ETCDCTL_API": "3"}, capture_output=True, text=True, timeout=30)


@pytest.mark.skipif(ETCD is None and not os.environ.get("CI"), reason="no etcd (apt-get install etcd-server)")
def test_rendered_three_member_cluster_runs():
    r = render_umbrella({"etcd": {"replicas": 3, "persistence": {"enabled": False}}})
    sts = r.get("StatefulSet", f"{FULL}-etcd")
    c = container(sts)
    assert sts["spec"]["replicas"] == 3 and sts["spec"]["podManagementPolicy"] == "Parallel"
    client = int(next(p["containerPort"] for p in c["ports"] if p["name"] == "client"))
    tmp = tempfile.mkdtemp(prefix="sdp-chart-etcd-")
    procs = []
    try:
        for i in range(3):
            pod, ip = f"{FULL}-etcd-{i}", f"127.0.0.{i + 1}"
            args = []
            for a in c["args"]:
                a = a.replace("$(POD_NAME)", pod)
                for j in range(3):  # the pods' DNS names, as the headless service resolves them
                    a = a.replace(f"{FULL}-etcd-{j}.{DOMAIN}", f"127.0.0.{j + 1}")
                a = a.replace("0.0.0.0", ip).replace("/var/run/etcd/data", f"{tmp}/{pod}")
                args.append(a)
            assert any(a.startswith("--initial-cluster=") and a.count("=http://127.0.0.") == 3 for a in args), args
            procs.append(subprocess.Popen([ETCD, *args, "--log-level", "error"], stdout=subprocess.DEVNULL,
                                          stderr=open(f"{tmp}/{pod}.log", "w")))
        endpoints = ",".join(f"127.0.0.{i + 1}:{client}" for i in range(3))
        deadline = time.monotonic() + 30
        while ctl(endpoints, "endpoint", "health").returncode != 0:
            assert time.monotonic() < deadline, ctl(endpoints, "endpoint", "health").stderr
            time.sleep(0.3)
        members = ctl(endpoints, "member", "list").stdout
        assert all(f"{FULL}-etcd-{i}" in members for i in range(3)), members
        assert ctl(f"127.0.0.1:{client}", "put", "k", "v").returncode == 0
        assert ctl(f"127.0.0.3:{client}", "get", "k", "--print-value-only").stdout.strip() == "v"
        # One member down: the other two still serve writes.
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait()
        deadline = time.monotonic() + 20
        while ctl(f"127.0.0.2:{client}", "put", "k2", "v2").returncode != 0:
            assert time.monotonic() < deadline
            time.sleep(0.3)
        assert ctl(f"127.0.0.3:{client}", "get", "k2", "--print-value-only").stdout.strip() == "v2"
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
