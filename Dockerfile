# syntax=docker/dockerfile:1
# Container images of the SDP prototype control system (the Helm charts in charts/ use them).
#
#   docker build -t ska-sdp .                              # target runtime (the default, last stage)
#   docker build --target itango -t ska-sdp-itango .       # PyTango + itango for the itango pod
#   docker build --target workflow-testdask -t ska-sdp-workflow-testdask .   # one per workflow
#
# `make images` builds them all. Every image runs as the unprivileged user sdp (uid 10001).

ARG RUST_VERSION=1.95
ARG DEBIAN=bookworm
ARG HELM_VERSION=v3.16.4

# ---- build: the release binaries of the workspace -----------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN} AS build
# protoc: etcd-client generates its gRPC code at build time
RUN apt-get update \
 && apt-get install -y --no-install-recommends protobuf-compiler \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --workspace \
        --bin sdp --bin sdpcfg --bin SDPMaster --bin SDPSubarray \
 && mkdir -p /out \
 && cp target/release/sdp target/release/sdpcfg target/release/SDPMaster target/release/SDPSubarray /out/

# ---- helm: the official Helm release, checked against its published checksum ----------------
FROM debian:${DEBIAN}-slim AS helm
ARG HELM_VERSION
ARG TARGETARCH=amd64
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /tmp/helm
RUN curl -fsSLO "https://get.helm.sh/helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz" \
 && curl -fsSLO "https://get.helm.sh/helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz.sha256sum" \
 && sha256sum -c "helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz.sha256sum" \
 && tar -xzf "helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz" --strip-components=1 "linux-${TARGETARCH}/helm" \
 && ./helm version --short

# ---- base: the small runtime image every SDP container starts from --------------------------
FROM debian:${DEBIAN}-slim AS base
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 sdp \
 && useradd --system --uid 10001 --gid sdp --home-dir /home/sdp --create-home --shell /usr/sbin/nologin sdp
COPY --from=build /out/sdp /out/sdpcfg /out/SDPMaster /out/SDPSubarray /usr/local/bin/
COPY --from=helm /tmp/helm/helm /usr/local/bin/helm
# Charts the Helm deployer installs by name (working directory of its container).
COPY charts/workflow /opt/sdp/charts/workflow
USER 10001:10001
WORKDIR /home/sdp

# ---- workflows: one image per workflow; the processing controller passes the PB id ----------
FROM base AS workflow-testdask
ENTRYPOINT ["sdp", "workflow", "testdask"]

FROM base AS workflow-testdeploy
ENTRYPOINT ["sdp", "workflow", "testdeploy"]

FROM base AS workflow-teststate
ENTRYPOINT ["sdp", "workflow", "teststate"]

FROM base AS workflow-vis-receive
ENTRYPOINT ["sdp", "workflow", "vis_receive"]

# ---- itango: the interactive Tango shell of the seed (kubectl exec ... /venv/bin/itango3) ----
FROM python:3.11-slim-${DEBIAN} AS itango
RUN python -m venv /venv \
 && /venv/bin/pip install --no-cache-dir pytango==10.3.1 itango \
 && groupadd --system --gid 10001 sdp \
 && useradd --system --uid 10001 --gid sdp --home-dir /home/sdp --create-home --shell /bin/bash sdp
ENV PATH=/venv/bin:$PATH
USER 10001:10001
WORKDIR /home/sdp
CMD ["itango3"]

# ---- runtime (default target): sdp, sdpcfg, SDPMaster, SDPSubarray, helm ---------------------
FROM base AS runtime
CMD ["sdp", "--help"]
