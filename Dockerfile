# lytewatch worker, dashboard and notifier image (docker-compose.yml builds it once for all three).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY alerts ./alerts
COPY streams ./streams
RUN pip install . && useradd --create-home --uid 10001 lytewatch && mkdir -p /data && chown lytewatch /data

USER lytewatch
ENV LYTEWATCH_DATA_DIR=/data LYTEWATCH_WEB_HOST=0.0.0.0 LYTEWATCH_DASHBOARD_HOST=0.0.0.0
VOLUME ["/data"]
ENTRYPOINT ["lytewatch"]
CMD ["worker"]
