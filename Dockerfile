# syntax=docker/dockerfile:1
# Multi-stage: build with the pinned toolchain, run on a small non-root image.
# The build step is the one CI runs (`cargo build --release --locked --bin presignd`).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin presignd \
 && mkdir -p /out/data \
 && cp target/release/presignd /out/presignd

# distroless/cc has glibc and libgcc (aws-lc needs them), CA certificates for the
# AWS credential chain and JWKS over https, and no shell. UID 65532 (nonroot).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/presignd /usr/local/bin/presignd
# The embedded default audit store is sqlite://data/audit.db, relative to the workdir.
COPY --from=build --chown=65532:65532 /out/data /var/lib/presignd/data
WORKDIR /var/lib/presignd
USER 65532:65532
ENV PRESIGND_SERVER__BIND=0.0.0.0:8080 \
    PRESIGND_LOG__FORMAT=json
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/presignd"]
CMD ["serve"]
