"""The Celery app `labelhub` (`celery -A labelhub worker`). Tasks live in annotations/tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelhub.settings")

app = Celery("labelhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every queue a worker of the whole app consumes (task_routes in settings): `make run` and compose
# give generation its own worker, so exports never wait behind a long generation.
QUEUES = ("celery", "generation", "exports")

from labelhub import observability  # noqa: E402, F401 - connects the request-id and job-log signals
