# GPU image for the trainer: the same stack plus TensorFlow's CUDA wheels (requirements-gpu.lock,
# compiled from requirements.in + tensorflow[and-cuda], so every shared pin is identical).
# Needs an NVIDIA driver on the node; CUDA and cuDNN come from the pip wheels.
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_USE_LEGACY_KERAS=1

WORKDIR /app
COPY requirements-gpu.lock ./
RUN pip install --no-deps -r requirements-gpu.lock

COPY pyproject.toml pipeline.py ./
COPY schemas ./schemas
COPY components ./components
RUN pip install --no-deps --no-build-isolation . \
    && useradd --create-home --uid 10001 shoprec

USER 10001
CMD ["python", "-m", "components.train", "--help"]
