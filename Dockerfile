# Parley's container image: built with the official Swift image, run on slim Debian as a non-root
# user. The SQLite file lives in the /data volume. Every `parley serve` flag has a PARLEY_* twin
# (README, "Configuration"), so the image is configured with environment variables:
#   docker run -p 8080:8080 -v parley-data:/data -e PARLEY_PUBLIC_URL=https://chat.example.com parley

FROM swift:6.3-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsqlite3-dev libcurl4-openssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so that a source change does not fetch them again.
COPY Package.swift ./
RUN mkdir -p Sources Tests && swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product parley \
    && bin="$(swift build -c release --static-swift-stdlib --show-bin-path)" \
    && mkdir -p /staging \
    && cp "$bin/parley" /staging/ \
    && cp -R "$bin/parley_ParleyServer.resources" /staging/

FROM debian:bookworm-slim
# Beyond the C and C++ runtime, the binary loads SQLite and libcurl (scripts/release lists them); curl
# itself is for HEALTHCHECK.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsqlite3-0 libcurl4 curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --no-log-init --uid 10001 --no-create-home --home-dir /data --shell /usr/sbin/nologin parley \
    && mkdir -p /data \
    && chown parley:parley /data
COPY --from=build /staging/ /opt/parley/
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
ENV PARLEY_HOST=0.0.0.0 \
    PARLEY_PORT=8080 \
    PARLEY_DATABASE=sqlite:/data/parley.sqlite
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/healthz"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/opt/parley/parley", "serve"]
