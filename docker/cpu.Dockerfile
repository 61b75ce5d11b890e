# CPU image for every pipeline step. Installs only from requirements.lock (the README's lock).
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_USE_LEGACY_KERAS=1

WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock

COPY pyproject.toml pipeline.py ./
COPY schemas ./schemas
COPY components ./components
RUN pip install --no-deps --no-build-isolation . \
    && useradd --create-home --uid 10001 shoprec

USER 10001
# Each step runs `python -m kfp.dsl.executor_main ...` (set by the compiled pipeline), or a
# component by hand: docker run IMAGE python -m components.ingest --help
CMD ["python", "-m", "components.ingest", "--help"]
