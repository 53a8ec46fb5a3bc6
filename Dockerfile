# The gateway as a container: `consent-gateway serve` on port 8000, in front of the site that
# CONSENT_GATEWAY_UPSTREAM names (http://app:8080). Set CONSENT_GATEWAY_SECRET too; the
# consent records go to SQLite in /data unless CONSENT_GATEWAY_DATABASE_URL names PostgreSQL.
# A plain `pip install .` of the project (tests/test_docker.py runs these steps in a venv).
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
# SIGTERM (docker stop) lets the requests in flight finish, then exits.
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/_consent/health', timeout=5)"]
CMD ["consent-gateway", "serve", "--host", "0.0.0.0", "--port", "8000"]
