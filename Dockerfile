# syntax=docker/dockerfile:1
# Upbeat container: build with the same steps as scripts/setup.sh and
# scripts/build.sh, run as a non-root user with SQLite on a volume.
#
#   docker build -t upbeat .
#   docker run -p 3000:3000 -v upbeat-data:/var/lib/upbeat upbeat
#
# Mount your own config over /etc/upbeat/upbeat.toml, or point UPBEAT_CONFIG
# elsewhere. For PostgreSQL set UPBEAT_DATABASE_URL=postgres://...

FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
ENV UPBEAT_TOOLS_DIR=/opt/upbeat-tools
WORKDIR /src
# Tools first, so source changes do not rebuild them.
COPY Cargo.lock ./
COPY scripts/ scripts/
RUN scripts/setup.sh --build-only
COPY . .
# The release profile, which server/link/hot-text.ld was measured on (the
# least resident memory; README → Memory). Not --dist: see scripts/build.sh.
RUN scripts/build.sh

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/upbeat --create-home --shell /usr/sbin/nologin upbeat
COPY --from=build /src/target/release/upbeat /usr/local/bin/upbeat
COPY --from=build /src/target/site /usr/share/upbeat/site
COPY upbeat.toml /etc/upbeat/upbeat.toml
ENV UPBEAT_CONFIG=/etc/upbeat/upbeat.toml \
    UPBEAT_SERVER__SITE_ROOT=/usr/share/upbeat/site \
    UPBEAT_LISTEN=0.0.0.0:3000 \
    UPBEAT_DATABASE_URL=sqlite:///var/lib/upbeat/upbeat.db
USER upbeat
WORKDIR /var/lib/upbeat
VOLUME ["/var/lib/upbeat"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s --start-period=15s --retries=3 \
  CMD curl -fsS http://127.0.0.1:3000/health || exit 1
ENTRYPOINT ["upbeat"]
CMD ["serve"]
