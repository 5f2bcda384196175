# The eventbus image the compose file runs: routers (`eventbus run`) and producers (`eventbus put`).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY eventbus ./eventbus
RUN pip install --no-cache-dir .
COPY rules ./rules
COPY examples ./examples
ENTRYPOINT []
