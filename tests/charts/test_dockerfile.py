"""Static checks of the Dockerfile: no docker engine exists here, so nothing is built; these
tests read the file and cross-check it with the workspace, the charts and the Makefile."""
from __future__ import annotations

import json
import re
import shlex
import subprocess

import pytest

from conftest import ROOT, container

DOCKERFILE = ROOT / "Dockerfile"
# the binaries the image must hold (the charts run them)
REQUIRED = {"sdp", "sdpcfg", "SDPMaster", "SDPSubarray"}


def stages() -> dict[str, dict]:
    """{stage name: {"from": base, "lines": [(instruction, args)]}} in file order."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out: dict[str, dict] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args.strip(), re.I)
            current = m.group(2) or f"stage{len(out)}"
            out[current] = {"from": m.group(1), "lines": []}
        elif current:
            out[current]["lines"].append((instr, " ".join(args.split())))
    return out


def effective_user(all_stages: dict, name: str) -> str:
    """The user a stage's image runs as (USER is inherited from a parent stage)."""
    st = all_stages[name]
    users = [a for i, a in st["lines"] if i == "USER"]
    if users:
        return users[-1]
    return effective_user(all_stages, st["from"]) if st["from"] in all_stages else "root"


def final_images(all_stages: dict) -> list[str]:
    """Stages that are shipped as images (Makefile IMAGE_TARGETS), plus the default last stage."""
    return [t.split(":")[0] for t in makefile_image_targets()] + [list(all_stages)[-1]]


def makefile_image_targets() -> list[str]:
    mk = (ROOT / "Makefile").read_text()
    m = re.search(r"^IMAGE_TARGETS\s*:=\s*((?:.*\\\n)*.*)$", mk, re.M)
    return m.group(1).replace("\\\n", " ").split()


def test_multi_stage_build_then_small_runtime_as_default_target():
    s = stages()
    assert s["build"]["from"].startswith("rust:"), s["build"]["from"]
    assert list(s)[-1] == "runtime", "docker build without --target must give the runtime image"
    base = s["runtime"]["from"]
    while base in s:
        base = s[base]["from"]
    assert base.startswith("debian:") and base.endswith("-slim"), base
    runs = " ".join(a for i, a in s["build"]["lines"] if i == "RUN")
    assert "cargo build --release --locked --workspace" in runs


def test_the_build_copies_exactly_the_required_binaries():
    s = stages()
    runs = " ".join(a for i, a in s["build"]["lines"] if i == "RUN")
    assert set(re.findall(r"--bin (\S+)", runs)) == REQUIRED
    assert set(re.findall(r"target/release/(\S+)", runs)) == REQUIRED
    copies = [a for i, a in s["base"]["lines"] if i == "COPY" and "--from=build" in a]
    (copy,) = copies
    *srcs, dest = shlex.split(copy)[1:]
    assert {p.rsplit("/", 1)[1] for p in srcs} == REQUIRED and dest == "/usr/local/bin/"
    helm = [a for i, a in s["base"]["lines"] if i == "COPY" and "--from=helm" in a]
    assert helm and helm[0].endswith("/usr/local/bin/helm"), "the Helm deployer needs helm"


def workspace_binaries() -> set[str]:
    out = subprocess.run(["cargo", "metadata", "--no-deps", "--offline", "--format-version", "1"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {t["name"] for p in json.loads(out)["packages"] for t in p["targets"] if "bin" in t["kind"]}


def test_the_binaries_it_copies_are_built_by_the_workspace():
    have = workspace_binaries()
    assert have, "cargo metadata lists no binaries"
    missing = sorted(REQUIRED - have)
    if missing:
        pytest.skip(f"not yet binaries of this workspace (written on other branches): {', '.join(missing)}; "
                    f"present: {', '.join(sorted(REQUIRED & have)) or 'none'}")


@pytest.mark.parametrize("stage", ["runtime", "itango", "workflow-testdask", "workflow-testdeploy",
                                   "workflow-teststate", "workflow-vis-receive"])
def test_every_image_runs_as_a_non_root_user(stage):
    s = stages()
    assert stage in final_images(s)
    user = effective_user(s, stage)
    assert user.split(":")[0] not in ("root", "0"), user
    assert user == "10001:10001"  # the charts' runAsUser / runAsGroup


def test_the_charts_container_commands_exist_in_the_image(umbrella):
    """Every command a chart container of the project image runs is one of the copied binaries."""
    from test_umbrella import IMAGE, pod_specs
    ours = [(name, c) for name, spec in pod_specs(umbrella)
            for c in spec.get("initContainers", []) + spec["containers"] if c["image"] == IMAGE]
    assert len(ours) >= 8
    for name, c in ours:
        if c["command"][0] == "/bin/sh":  # the wait-for-config-db loop
            assert "sdpcfg ls /" in c["command"][-1], (name, c["name"])
        else:
            assert c["command"][0] in REQUIRED, (name, c["name"])


def test_the_deployers_charts_are_baked_in_where_the_chart_says(umbrella):
    workdir = container(umbrella.get("Deployment", "test-sdp-prototype-helm-deploy"))["workingDir"]
    copies = [a for i, a in stages()["base"]["lines"] if i == "COPY" and not a.startswith("--from")]
    assert f"charts/workflow {workdir}/workflow" in copies


def test_one_workflow_image_per_workflow_definition(umbrella):
    defs = json.loads(umbrella.get("ConfigMap", "test-sdp-prototype-workflows")["data"]["workflows.json"])
    s = stages()
    targets = dict(t.split(":") for t in makefile_image_targets())
    for w in defs["workflows"]:
        (stage,) = [name for name, img in targets.items() if img == w["image"]]
        entry = [a for i, a in s[stage]["lines"] if i == "ENTRYPOINT"]
        assert entry and json.loads(entry[-1]) == ["sdp", "workflow", w["id"]], stage


def test_itango_image_has_the_seeds_venv_and_the_tested_pytango():
    s = stages()
    runs = " ".join(a for i, a in s["itango"]["lines"] if i == "RUN")
    assert "python -m venv /venv" in runs and " itango" in runs
    pin = re.search(r"^pytango==(\S+)$", (ROOT / "tests/interop/requirements.txt").read_text(), re.M).group(1)
    assert f"pytango=={pin}" in runs


def test_build_context_leaves_out_build_outputs():
    ignored = {l.strip() for l in (ROOT / ".dockerignore").read_text().splitlines() if l.strip() and not l.startswith("#")}
    assert {"target", ".venv", ".git"} <= ignored
