# Signpost's container image: the server (and signpostctl) built statically
# and run as an unprivileged user on distroless. See README.md,
# "Container image".
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t signpost .
#   docker run -d --name signpost -p 53:53/udp -p 53:53/tcp -p 127.0.0.1:8053:8053 \
#       -v signpost-data:/var/lib/signpost signpost

FROM golang:1.26 AS build
WORKDIR /src
# The modules first, for a layer that outlives source changes: the main
# module's and those of the client modules it replaces with ./client.
COPY go.mod go.sum ./
COPY client/go.* client/
COPY client/grpcresolver/go.* client/grpcresolver/
RUN go mod download
COPY . .
# The build context carries no .git (.dockerignore): the version comes in as
# a build argument.
ARG VERSION=dev
ARG COMMIT=
RUN CGO_ENABLED=0 make build BUILDFLAGS=-trimpath VERSION="${VERSION}" COMMIT="${COMMIT}" BIN=/out
# Port 53 without root, as CoreDNS's image does it; the data directory,
# owned by the user the server runs as.
RUN apt-get -qq update && apt-get -qq -y install --no-install-recommends libcap2-bin \
    && setcap cap_net_bind_service=+ep /out/signpost \
    && mkdir -p /out/var/lib/signpost && chown 65532:65532 /out/var/lib/signpost

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/signpost /out/signpostctl /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/var/lib/signpost /var/lib/signpost
COPY contrib/docker/Corefile /etc/signpost/Corefile
COPY LICENSE /usr/share/doc/signpost/LICENSE
# Numeric, so that Kubernetes can check runAsNonRoot: distroless's nonroot.
USER 65532:65532
WORKDIR /
VOLUME /var/lib/signpost
EXPOSE 53/udp 53/tcp 8053 9153
ENTRYPOINT ["/usr/local/bin/signpost"]
CMD ["-conf", "/etc/signpost/Corefile"]
