# One image for the three glidepath services and the web front end; the command chooses:
#   docker run IMAGE model_registry_service --host 0.0.0.0 --port 50053
#   docker run IMAGE training_service      --host 0.0.0.0 --port 50052
#   docker run IMAGE simulation_service    --host 0.0.0.0 --port 50051
#   docker run IMAGE web_service           --host 0.0.0.0 --port 8080
#
# Nothing is downloaded during the build: Python packages come from a wheelhouse made on
# the host (`make wheelhouse`: the locked requirements, torch's CPU build included), so the
# build works offline and installs exactly what the tests ran against.
#
# BASE_IMAGE must provide Python 3.11 with the venv module. The default is the public
# image; where no registry can be reached, build one from Debian packages
# (scripts/compose_test.sh does: mmdebstrap + docker import -> glidepath-base:bookworm).
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---- stage 1: the dependencies' virtual environment, from the wheelhouse ---------------
# Only the lock and the wheelhouse go in here, so this stage (about 1 GB, mostly torch)
# is rebuilt only when they change, never on a code edit.
FROM ${BASE_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
COPY build/wheelhouse/*.whl /wheels/
COPY requirements.lock /tmp/requirements.lock
# setuptools too: the build backend of the project's own editable install below.
RUN /opt/venv/bin/pip install --no-index --find-links /wheels -r /tmp/requirements.lock \
 && /opt/venv/bin/pip install --no-index --find-links /wheels setuptools

# ---- stage 2: the runtime image; the wheelhouse stays behind (~270 MB less) ------------
FROM ${BASE_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/glidepath \
    MPLCONFIGDIR=/tmp/matplotlib
# A fixed unprivileged uid. The data directories are created here and owned by it, so a
# fresh named volume mounted on one inherits that ownership.
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/glidepath glidepath \
 && mkdir -p /data/models/rl /data/training \
 && chown -R glidepath:glidepath /data
COPY --from=deps /opt/venv /opt/venv
# The code: the packages, what they read at run time (examples/) and the build metadata;
# listed rather than `COPY .` so that the wheelhouse stays out. Owned by root: the
# services cannot modify their own code.
COPY pyproject.toml README.md requirements.lock /app/
COPY protos /app/protos
COPY examples /app/examples
COPY glidepath /app/glidepath
COPY model_registry_service /app/model_registry_service
COPY training_service /app/training_service
COPY simulation_service /app/simulation_service
COPY web_service /app/web_service
# The shipped generic model: the registry installs it into an empty /data/models/rl.
COPY models/shipped /app/models/shipped
# Editable, as `make install` does: the code runs from /app, where paths relative to the
# repository (examples/) resolve as in a checkout. No index, no build isolation: the
# backend is the venv's own setuptools.
RUN pip install --quiet --no-index --no-deps --no-build-isolation -e /app
WORKDIR /app
USER glidepath
# Where the services keep their data inside a container; compose mounts volumes there.
ENV RL_MODELS_DIR=/data/models/rl \
    TRAINING_DATA_DIR=/data/training
EXPOSE 50051 50052 50053 8080
# `python -m <service> ...`: CMD names the service and its flags.
ENTRYPOINT ["python", "-m"]
CMD ["model_registry_service", "--host", "0.0.0.0", "--port", "50053"]
