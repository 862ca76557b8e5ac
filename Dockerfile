# Build: docker build -t backstitch .
# Run:   see README.md, section "Docker": production mode needs MONGODB_URI, the Stripe keys and
#        an https BACKSTITCH_PUBLIC_URL (cmd/backstitch's tests start the binary with exactly
#        those settings). Without any settings the image runs the offline demo on /tmp.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
COPY templates ./templates
# Pure Go throughout (the embedded store's SQLite is modernc.org/sqlite), so the binary is static.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/backstitch ./cmd/backstitch

# distroless/static has CA certificates (for Stripe and Atlas TLS) and runs as a non-root user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/backstitch /backstitch
COPY config/backstitch.example.env /config/backstitch.example.env
ENV BACKSTITCH_ADDR=:8080 \
    BACKSTITCH_DATA_DIR=/tmp/backstitch-data
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/backstitch"]
