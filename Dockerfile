# The controller image for people with a Docker daemon (or podman, buildah, kaniko):
#
#   docker build --build-arg VERSION=v0.1.0 --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(git log -1 --format=%cI) -t ghcr.io/sluicedev/sluice:v0.1.0 .
#
# It cannot be built on sluice's own machines (no daemon, no image registry there): `make
# image` builds the same image without either (hack/image: the same go build flags,
# /sluice as entrypoint, user 65532:65532, the same labels) and that is the one tested.
# TestDockerfileMatches in hack/image keeps the two in step. The difference: this one
# stands on distroless static (its CA bundle, tzdata, /etc/passwd, /home/nonroot), make
# image's holds the binary, /etc/passwd and /etc/group only (CA roots are compiled in).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=(devel)
ARG REVISION=
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
    -ldflags "-s -w -X github.com/sluicedev/sluice/pkg/version.version=${VERSION} -X github.com/sluicedev/sluice/pkg/version.revision=${REVISION}" \
    -o /out/sluice ./cmd/sluice

FROM gcr.io/distroless/static:nonroot
ARG VERSION=(devel)
ARG REVISION=
ARG CREATED=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.title="sluice" \
      org.opencontainers.image.description="Canary traffic shifting for Istio, driven by Envoy's own stats" \
      org.opencontainers.image.source="https://github.com/sluicedev/sluice" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build /out/sluice /sluice
USER 65532:65532
ENTRYPOINT ["/sluice"]
