# The official MLflow image, rebuilt on a base of your choice, for a machine that cannot pull
# ghcr.io/mlflow/mlflow. It does what MLflow's own docker/Dockerfile does (python:3.11-slim, then
# `pip install mlflow==VERSION`), so the stack behaves the same; point the stack at it with
# MLFLOW_IMAGE=... (HOKUSAI_MLFLOW_IMAGE). compose/local-images.sh builds it:
#   docker build --network host -f compose/mlflow.Dockerfile --build-arg BASE_IMAGE=... \
#       -t hokusai-local/mlflow:3.17.2 - < compose/mlflow.Dockerfile
#
# MLFLOW_VERSION is the project's pin (pyproject.toml); tests/compose fails when they differ.
# For the postgres and s3 profiles, add the drivers the official "-full" flavour carries:
#   --build-arg MLFLOW_EXTRAS='[db,extras]'
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ARG MLFLOW_VERSION=3.17.2
ARG MLFLOW_EXTRAS=

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN pip install "mlflow${MLFLOW_EXTRAS}==${MLFLOW_VERSION}" && mlflow --version

CMD ["mlflow", "server", "--host", "0.0.0.0"]
