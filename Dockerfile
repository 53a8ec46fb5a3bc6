# The gateway as a container: `consent-gateway serve` on port 8000.
# Same steps as `./scripts/serve`: a plain `pip install .` of the project.
FROM python:3.11-slim

WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY rules ./rules
COPY static ./static
RUN pip install --no-cache-dir '.[postgres]' \
    && useradd --system --home-dir /data --create-home gateway

USER gateway
WORKDIR /data
ENV CONSENT_GATEWAY_DATABASE_URL=sqlite:////data/consent-gateway.sqlite3
EXPOSE 8000
CMD ["consent-gateway", "serve", "--host", "0.0.0.0", "--port", "8000"]
