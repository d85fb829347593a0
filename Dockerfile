# A fixed release of the base image, not a moving tag.
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    THREATCAST_HOME=/var/lib/threatcast \
    THREATCAST_ENVIRONMENT=production
# Production needs a real key: run with -e THREATCAST_SECRET_KEY=<32+ random characters>.

RUN useradd --system --create-home --home-dir /home/threatcast threatcast \
    && mkdir -p /var/lib/threatcast && chown threatcast /var/lib/threatcast

WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
RUN pip install -r requirements.lock
COPY store ./store
COPY events ./events
COPY features ./features
COPY models ./models
COPY training ./training
COPY service ./service
RUN pip install --no-deps .

USER threatcast
VOLUME ["/var/lib/threatcast"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"

CMD ["threatcast", "serve", "--host", "0.0.0.0", "--port", "8000", "--bootstrap"]
