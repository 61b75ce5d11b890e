# GPU image for the trainer: the same stack plus TensorFlow's CUDA wheels, installed only from
# requirements-gpu.lock (compiled from requirements.in + tensorflow[and-cuda], so it holds every
# pin of requirements.lock unchanged; a test checks that). CUDA and cuDNN come from the pip
# wheels; the node provides only the NVIDIA driver (GKE/EKS GPU pools, or the NVIDIA container
# toolkit with `docker run --gpus all`).
# Build from the repository root: docker build -f docker/gpu.Dockerfile -t IMAGE .
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_USE_LEGACY_KERAS=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

WORKDIR /app
COPY requirements-gpu.lock ./
RUN pip install --no-deps -r requirements-gpu.lock

COPY pyproject.toml pipeline.py ./
COPY schemas ./schemas
COPY components ./components
RUN pip install --no-deps --no-build-isolation . \
    && python -c "import pipeline" \
    && useradd --create-home --uid 10001 shoprec

USER 10001
ENV HOME=/home/shoprec
# On a GPU node: docker run --gpus all IMAGE python -c \
#   "import tensorflow as tf; print(tf.config.list_physical_devices('GPU'))"
CMD ["python", "-m", "components.train", "--help"]
