#!/usr/bin/env python3
"""Render, lint and validate the Helm charts offline.

Helm rendering and linting come from the Helm Go SDK bundled in the PyPI package
helm-python-sdk (no helm binary, no cluster); every rendered manifest is checked with
kubernetes-validate --strict. Used by the chart tests and by `make lint` / `make template`.

  render.py CHART [--release R] [--namespace N] [--set k=v,...]...   # manifests on stdout
  render.py --lint-only CHART...                                     # lint + render + validate
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import yaml

# Kubernetes versions the manifests must be valid for: an older supported one and the newest
# schema kubernetes-validate ships.
KUBE_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())

# Values a chart needs before it renders at all (the workflow chart requires pb_id and wf_image).
LINT_VALUES = {
    "workflow": {"pb_id": "realtime-20191121-0000", "wf_image": "localhost:5000/ska-sdp-workflow-testdask:0.1.0"},
}


def render(chart_dir, release="test", namespace="integration", values=None) -> dict[str, str]:
    """`helm template`: {template path: rendered text} (empty renderings left out)."""
    with helm.Chart.load(str(chart_dir)) as chart:
        out = chart.render(values or {}, name=release, namespace=namespace)
    return {k: v for k, v in sorted(out.items()) if v.strip()}


def manifests(rendered: dict[str, str]) -> list[dict]:
    """The Kubernetes objects of a rendering (NOTES.txt excluded)."""
    docs = []
    for name, text in rendered.items():
        if name.endswith("NOTES.txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def lint(chart_dir, values=None, namespace="integration") -> list[str]:
    """`helm lint --strict` findings at warning level or worse, as text."""
    report = helm.lint(str(chart_dir), values, strict=True, namespace=namespace)
    found = [f"{m['path']}: {m['error']}" for m in report["messages"] if m["severity"] >= 2]
    return found + list(report["errors"])


def validate(docs: list[dict]) -> list[str]:
    """kubernetes-validate --strict of every object, for every version in KUBE_VERSIONS."""
    problems = []
    for version in KUBE_VERSIONS:
        for d in docs:
            try:
                kubernetes_validate.validate(d, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                where = f"{d.get('kind')}/{d.get('metadata', {}).get('name')}"
                problems.append(f"k8s {version}: {where}: {'.'.join(map(str, e.path))}: {e.message}")
    return problems


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("charts", nargs="+", type=Path)
    p.add_argument("--release", default="test")
    p.add_argument("--namespace", default="integration")
    p.add_argument("--set", action="append", default=[], metavar="K=V")
    p.add_argument("--lint-only", action="store_true", help="lint, render and validate; print findings only")
    a = p.parse_args(argv)
    values: dict = {}
    for s in a.set:
        values = merge(values, helm.parse_set_string(s))
    failed = False
    for chart in a.charts:
        v = merge(LINT_VALUES.get(chart.name, {}), values)
        findings = lint(chart, v, a.namespace)
        rendered = render(chart, a.release, a.namespace, v)
        findings += validate(manifests(rendered))
        for f in findings:
            print(f"{chart}: {f}", file=sys.stderr)
        failed |= bool(findings)
        if a.lint_only:
            print(f"{chart}: {'FAILED' if findings else 'ok'} ({len(manifests(rendered))} objects, "
                  f"helm lint --strict, kubernetes-validate --strict {' and '.join(KUBE_VERSIONS)})")
        else:
            for name, text in rendered.items():
                if name.endswith("NOTES.txt"):  # as helm template: NOTES are not manifests
                    continue
                print(f"---\n# Source: {name}\n{text.strip()}")
    return 1 if failed else 0


def merge(a: dict, b: dict) -> dict:
    """Deep merge of b into a copy of a (b wins)."""
    out = dict(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


if __name__ == "__main__":
    sys.exit(main())
