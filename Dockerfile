# keyplane: one static binary on a distroless, non-root base.
#   docker build -t keyplane .
#   docker run -e DATABASE_URL=... -e KEYPLANE_MASTER_KEY=... -e KEYPLANE_BOOTSTRAP_TOKEN=... -p 127.0.0.1:8080:8080 keyplane
# The server applies its (embedded) migrations at start.

FROM golang:1.26 AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -ldflags="-s -w" -o /out/keyplane ./cmd/keyplane

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/keyplane /usr/local/bin/keyplane
USER nonroot:nonroot
ENV KEYPLANE_ADDR=0.0.0.0:8080
EXPOSE 8080
CMD ["keyplane", "serve"]
