# Multi-stage build: compile with the Rust toolchain, run from a small Debian image as
# a non-root user. The data directory is a volume: the whole log and the view file
# (views.sqlite3) on the embedded store, only the view file with --store postgres://… or
# kurrentdb://… (it is rebuilt from the log if the volume is empty).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin alert-ledger \
    && strip target/release/alert-ledger

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home /var/lib/alert-ledger alert-ledger \
    && mkdir -p /var/lib/alert-ledger/data \
    && chown -R alert-ledger /var/lib/alert-ledger \
    && apt-get update && apt-get install -y --no-install-recommends curl ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/alert-ledger /usr/local/bin/alert-ledger
USER alert-ledger
WORKDIR /var/lib/alert-ledger
ENV ALERT_LEDGER_DATA_DIR=/var/lib/alert-ledger/data \
    ALERT_LEDGER_LISTEN=0.0.0.0:8470 \
    ALERT_LEDGER_LOG_FORMAT=json
EXPOSE 8470
VOLUME ["/var/lib/alert-ledger/data"]
# Ready = the views caught up and the dispatcher runs (compose files may override this).
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=6 \
    CMD curl -fsS http://127.0.0.1:8470/readyz || exit 1
# SIGTERM: stop accepting, finish in-flight appends, close the log, exit 0 (the view file
# commits every batch as it goes, so there is nothing left to write).
STOPSIGNAL SIGTERM
ENTRYPOINT ["alert-ledger"]
CMD ["serve"]
