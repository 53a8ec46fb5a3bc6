# The gateway as a container: `consent-gateway demo` on port 8000 (the edge proxy,
# `consent-gateway serve --upstream`, replaces it once it lands).
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
CMD ["consent-gateway", "demo", "--host", "0.0.0.0", "--port", "8000"]
