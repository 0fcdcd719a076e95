# syntax=docker/dockerfile:1
# Production image of the moat operator.
#
#   docker build -t moat:0.1.0 .
#
# The `emulator` cargo feature (default-on for tests and the demo) is left out:
# --no-default-features. scripts/check-prod-build.sh runs the same cargo command without docker.

FROM rust:1.95-bookworm AS builder
WORKDIR /src

# Dependencies first, so source edits do not rebuild them: build a stub crate with the real
# manifests and lock file.
COPY Cargo.toml Cargo.lock ./
COPY benches ./benches
RUN mkdir -p src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked --no-default-features --bin moat \
 && rm -rf src target/release/moat target/release/deps/moat-* target/release/deps/libmoat-* target/release/.fingerprint/moat-*

COPY src ./src
RUN cargo build --release --locked --no-default-features --bin moat \
 && strip target/release/moat \
 && ./target/release/moat --version

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="moat" \
      org.opencontainers.image.description="Kubernetes operator for network-isolated Azure Machine Learning workspaces" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /src/target/release/moat /moat
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/moat"]
CMD ["run"]
