# Multi-stage build: compile in the Rust image, run on a slim Debian with only the binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY src ./src
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
COPY openapi ./openapi
RUN cargo build --release --locked --bin twinhub

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/twinhub --create-home twinhub \
    && install -d -o twinhub /var/lib/twinhub/certs
COPY --from=build /src/target/release/twinhub /usr/local/bin/twinhub
USER twinhub
WORKDIR /var/lib/twinhub
ENV TWINHUB_BIND=0.0.0.0:8080 \
    TWINHUB_DATABASE_URL=sqlite:///var/lib/twinhub/twinhub.db
EXPOSE 8080 8883
STOPSIGNAL SIGTERM
ENTRYPOINT ["twinhub"]
CMD ["serve"]
