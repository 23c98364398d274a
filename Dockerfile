# kaos-server: the game backend, with PostgreSQL support, in a small image that runs as an
# unprivileged user. `docker build -t kaos-server .`
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p kaos-server --features postgres

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data --create-home kaos
COPY --from=build /src/target/release/kaos-server /usr/local/bin/kaos-server
USER kaos
WORKDIR /data
# Client API (REST and /ws), console, realtime over RUDP.
EXPOSE 7350 7351 7352/udp
ENTRYPOINT ["kaos-server"]
