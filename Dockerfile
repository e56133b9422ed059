# syntax=docker/dockerfile:1
# Container images of the two binaries, from one build:
#   docker build --target edge-agent  -t ghcr.io/rl-autoscaler/edge-agent:0.1.0 .
#   docker build --target coordinator -t ghcr.io/rl-autoscaler/coordinator:0.1.0 .
# The tag is the workspace version (Cargo.toml); the manifests in deploy/ pin the same one,
# and tests/tests/container_build.rs checks both, since no Docker engine runs in CI.

# Builder: the toolchain the workspace's rust-version asks for. The shipped models are
# embedded in the binaries, so nothing but the binary goes into the runtime images.
FROM docker.io/library/rust:1.95.0-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p edge-agent -p coordinator \
    && mkdir -p /out \
    && cp target/release/edge-agent target/release/coordinator /out/

# Runtime: glibc and CA certificates, no shell, no package manager; user 65532 (nonroot),
# the runAsUser of the manifests.
FROM gcr.io/distroless/cc-debian12:nonroot AS edge-agent
COPY --from=build /out/edge-agent /usr/local/bin/edge-agent
USER 65532:65532
EXPOSE 9464/tcp
ENTRYPOINT ["/usr/local/bin/edge-agent"]

FROM gcr.io/distroless/cc-debian12:nonroot AS coordinator
COPY --from=build /out/coordinator /usr/local/bin/coordinator
USER 65532:65532
EXPOSE 4433/udp 9465/tcp
ENTRYPOINT ["/usr/local/bin/coordinator"]
