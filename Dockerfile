# syntax=docker/dockerfile:1
# Production image of the moat operator, for users with Docker (or BuildKit, Kaniko, buildah bud):
#
#   docker build -t moat:"$(scripts/version.sh)" \
#     --build-arg MOAT_VERSION="$(scripts/version.sh)" \
#     --build-arg MOAT_GIT_REVISION="$(git rev-parse HEAD)" \
#     --build-arg MOAT_IMAGE_SOURCE=https://<your git host>/<owner>/moat .
#
# scripts/build-image.sh builds the same image without Docker (CI does so and runs moat from it):
# the same cargo command (--locked --no-default-features --bin moat: no ARM emulator), user
# 65532:65532, entrypoint /moat, cmd run, port 8080 and OCI labels. The base images are pinned by
# digest (the tags' digests as pinned by public Dockerfiles found with code search; check them with
# `crane digest rust:1.95-bookworm` / `crane digest gcr.io/distroless/cc-debian12:nonroot` and
# update both together). Both are Debian 12 (glibc 2.36), like the packages build-image.sh uses.

FROM rust:1.95-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1 AS builder
WORKDIR /src
# The version comes from Cargo.toml; the build argument only feeds the label and must agree.
ARG MOAT_VERSION
# There is no .git in the build context: build.rs stamps this revision into `moat --version`.
ARG MOAT_GIT_REVISION=unknown

# Dependencies first, so source edits do not rebuild them: build a stub crate with the real
# manifests and lock file.
COPY Cargo.toml Cargo.lock build.rs ./
COPY benches ./benches
COPY scripts/version.sh ./scripts/version.sh
RUN test -n "$MOAT_VERSION" || { echo 'pass --build-arg MOAT_VERSION="$(scripts/version.sh)"' >&2; exit 1; } \
 && test "$(scripts/version.sh)" = "$MOAT_VERSION" || { echo "MOAT_VERSION=$MOAT_VERSION but Cargo.toml says $(scripts/version.sh)" >&2; exit 1; }
RUN mkdir -p src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked --no-default-features --bin moat \
 && rm -rf src target/release/moat target/release/deps/moat-* target/release/deps/libmoat-* target/release/.fingerprint/moat-*

COPY src ./src
RUN cargo build --release --locked --no-default-features --bin moat \
 && strip target/release/moat \
 && ./target/release/moat --version \
 && if ./target/release/moat --help | grep -qiw emulator; then echo "the image must not offer the emulator" >&2; exit 1; fi

FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f
ARG MOAT_VERSION
ARG MOAT_GIT_REVISION=unknown
ARG MOAT_IMAGE_SOURCE=unknown
LABEL org.opencontainers.image.title="moat" \
      org.opencontainers.image.description="Kubernetes operator for network-isolated Azure Machine Learning workspaces" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${MOAT_VERSION}" \
      org.opencontainers.image.revision="${MOAT_GIT_REVISION}" \
      org.opencontainers.image.source="${MOAT_IMAGE_SOURCE}"
COPY --from=builder /src/target/release/moat /moat
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/moat"]
CMD ["run"]
