"""Fixtures of the chart tests: the charts rendered offline (Helm Go SDK from helm-python-sdk)
for release `test` in namespace `integration`, as `make deploy_all KUBE_NAMESPACE=integration`
installs them."""
from __future__ import annotations

from pathlib import Path

import pytest

import render

ROOT = Path(__file__).resolve().parents[2]
UMBRELLA = ROOT / "charts" / "sdp-prototype"
WORKFLOW = ROOT / "charts" / "workflow"
RELEASE, NAMESPACE = "test", "integration"


class Rendering:
    """A rendered chart: its objects, looked up by kind and name."""

    def __init__(self, rendered: dict[str, str]):
        self.rendered = rendered
        self.docs = render.manifests(rendered)
        self.notes = next((t for n, t in rendered.items() if n.endswith("NOTES.txt")), "")

    def all(self, kind: str) -> list[dict]:
        return [d for d in self.docs if d["kind"] == kind]

    def get(self, kind: str, name: str) -> dict:
        found = [d for d in self.all(kind) if d["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: found {len(found)}; have {sorted(self.names(kind))}"
        return found[0]

    def names(self, kind: str) -> set[str]:
        return {d["metadata"]["name"] for d in self.all(kind)}


def render_umbrella(values=None, release=RELEASE, namespace=NAMESPACE) -> Rendering:
    return Rendering(render.render(UMBRELLA, release, namespace, values))


@pytest.fixture(scope="session")
def umbrella() -> Rendering:
    return render_umbrella()


def container(workload: dict, name: str | None = None, init: bool = False) -> dict:
    """A container of a Deployment/StatefulSet/Pod (the only one when name is None)."""
    spec = workload["spec"]["template"]["spec"] if "template" in workload["spec"] else workload["spec"]
    cs = spec.get("initContainers" if init else "containers", [])
    if name is None:
        assert len(cs) == 1, [c["name"] for c in cs]
        return cs[0]
    return next(c for c in cs if c["name"] == name)


def env(c: dict) -> dict:
    """Environment of a container ({name: value}; valueFrom as the field path, or as
    "secret:<name>/<key>" for a secretKeyRef)."""
    out = {}
    for e in c.get("env", []):
        if "value" in e:
            out[e["name"]] = e["value"]
        elif "secretKeyRef" in e["valueFrom"]:
            ref = e["valueFrom"]["secretKeyRef"]
            out[e["name"]] = f"secret:{ref['name']}/{ref['key']}"
        else:
            out[e["name"]] = e["valueFrom"]["fieldRef"]["fieldPath"]
    return out
