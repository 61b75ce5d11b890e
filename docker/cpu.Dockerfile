# CPU image for every pipeline step. Installs only from requirements.lock (the README's lock).
# Build from the repository root: docker build -f docker/cpu.Dockerfile -t IMAGE .
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_USE_LEGACY_KERAS=1

WORKDIR /app
# The lock pins every package; --no-deps so nothing outside it is resolved at build time.
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock

# The project itself (components/, schemas/, pipeline.py), so `python -m components.<stage>` and
# the kfp executor's `from components.<stage>.component import execute` work in the container.
COPY pyproject.toml pipeline.py ./
COPY schemas ./schemas
COPY components ./components
RUN pip install --no-deps --no-build-isolation . \
    && python -c "import pipeline" \
    && useradd --create-home --uid 10001 shoprec

USER 10001
ENV HOME=/home/shoprec
# Each step runs `python3 -m kfp.dsl.executor_main ...` (set by the compiled pipeline), or a
# component by hand: docker run IMAGE python -m components.ingest --help
CMD ["python", "-m", "components.ingest", "--help"]
