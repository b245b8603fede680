# LabelHub production image: granian serves labelhub.wsgi (labelhub/serve.py), the same image runs the Celery worker.
FROM node:20-bookworm-slim AS static
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev && mkdir -p vendor && cp node_modules/sortablejs/Sortable.min.js vendor/sortable.min.js

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LABELHUB_PROFILE=production LABELHUB_VAR_DIR=/app/var
WORKDIR /app
COPY pyproject.toml README.md ./
COPY labelhub ./labelhub
COPY annotations ./annotations
RUN pip install --no-cache-dir .
COPY manage.py ./
COPY templates ./templates
COPY static ./static
COPY --from=static /build/vendor ./static/vendor
RUN SECRET_KEY=build-only-collectstatic python manage.py collectstatic --noinput -v0 \
    && useradd --create-home labelhub && mkdir -p /app/var /data/media && chown -R labelhub /app/var /data/media
USER labelhub
EXPOSE 8000
# The web server and its settings (WEB_BIND, WEB_WORKERS, WEB_THREADS): labelhub/serve.py, as `make serve`.
CMD ["python", "-m", "labelhub.serve"]
