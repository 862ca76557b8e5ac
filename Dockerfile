# Build: docker build -t backstitch .
# Run:   see README.md, section "Docker": production mode needs MONGODB_URI, the Stripe keys and
#        an https BACKSTITCH_PUBLIC_URL (cmd/backstitch's tests start the production binary with
#        exactly those settings). The image is the production build: it has no embedded store and
#        no offline Stripe, so without MONGODB_URI and the Stripe keys it stops, naming them.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
COPY templates ./templates
# Pure Go throughout, so the binary is static. -tags production leaves FerretDB, stripe-mock and the
# Stripe double out (internal/app/offline_production.go): a smaller binary that starts faster.
RUN CGO_ENABLED=0 go build -tags production -trimpath -ldflags="-s -w" -o /out/backstitch ./cmd/backstitch

# distroless/static has CA certificates (for Stripe and Atlas TLS) and runs as a non-root user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/backstitch /backstitch
COPY config/backstitch.example.env /config/backstitch.example.env
ENV BACKSTITCH_ADDR=:8080
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/backstitch"]
