# escalation-forecast: the service, with its model fitted at build time.
#   docker build -t escalation-forecast .
#   docker run -p 8000:8000 -v escalation-data:/app/var escalation-forecast
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # PyTensor must be able to write its compile cache (fitting happens at build time and on
    # a refit); the default under $HOME is not writable for every user.
    PYTENSOR_FLAGS=base_compiledir=/app/.cache/pytensor \
    # The artifact lives outside /app/var, the data volume, so that mounting one cannot hide it.
    ESC_ARTIFACT_PATH=/app/model/posterior.npz \
    ESC_HOST=0.0.0.0 \
    ESC_PORT=8000

RUN useradd --create-home --uid 10001 forecast
WORKDIR /app

# The same install steps as the Makefile (an editable install of the project; the tests' extras
# are left out of the image).
COPY pyproject.toml README.md ./
COPY app app
COPY models models
COPY scenarios scenarios
RUN python -m pip install --upgrade pip \
 && python -m pip install -e .

# Fit at build time: the container starts ready, without compiling or sampling.
RUN forecast fit --quiet \
 && mkdir -p var \
 && chown -R forecast:forecast /app

USER forecast
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status != 200)"
CMD ["python", "-m", "app.serve"]
