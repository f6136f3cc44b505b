# One image per NovaCron service: PRODUCT names the executable (novacron-placement, ...).
#   docker build --build-arg PRODUCT=novacron-placement -t novacron/novacron-placement .
# The build compiles the committed protobuf Swift (Shared/NovaProto); it never runs protoc.
ARG SWIFT_VERSION=6.3.1

FROM swift:${SWIFT_VERSION}-bookworm AS build
ARG PRODUCT
RUN test -n "$PRODUCT" || { echo "build with --build-arg PRODUCT=novacron-<service>" >&2; exit 1; }
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq librdkafka-dev pkg-config >/dev/null
WORKDIR /src
COPY Package.swift ./
COPY Shared Shared
COPY Services Services
COPY Tests Tests
RUN swift build -c release --product "$PRODUCT" --static-swift-stdlib \
 && install -D ".build/release/$PRODUCT" /out/service && strip /out/service

FROM debian:bookworm-slim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq librdkafka1 libstdc++6 ca-certificates >/dev/null \
 && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 novacron
COPY --from=build /out/service /usr/local/bin/service
USER novacron
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/service"]
