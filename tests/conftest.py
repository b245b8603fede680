import os

import pytest
from rest_framework.test import APIClient

from labelhub.celery import QUEUES
from labelhub.celery import app as celery_app

from .factories import make_project, make_user

REDIS_URL = os.environ.get("REDIS_URL", "")

if not REDIS_URL:
    # With no broker, tasks run in the calling process: the same code, no worker.
    celery_app.conf.task_always_eager = True


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def project(db):
    return make_project("helpful", name="Helpfulness")


@pytest.fixture
def alice(project):
    return make_user("alice", "labeler", project)


@pytest.fixture
def bob(project):
    return make_user("bob", "labeler", project)


@pytest.fixture
def rita(project):
    return make_user("rita", "researcher", project)


@pytest.fixture
def pam(project):
    """A project admin who is not staff."""
    return make_user("pam", "admin", project)


@pytest.fixture
def ada(db):
    return make_user("ada", "admin")


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def api():
    return client_for


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker, in a thread of this process, consuming from Redis.

    Needs REDIS_URL; the worker's database connections see the test database, and the test
    must commit its data (transactional_db), as a web request would."""
    if not REDIS_URL:
        pytest.skip("REDIS_URL is not set: no broker for a real worker")
    import celery.contrib.testing.tasks  # noqa: F401 - registers the ping task the worker start-up uses
    from celery.contrib.testing.worker import start_worker

    celery_app.conf.task_always_eager = False
    with start_worker(
        celery_app, pool="threads", concurrency=2, perform_ping_check=True, shutdown_timeout=30, queues=QUEUES
    ) as worker:
        yield worker


def pytest_report_header(config):
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    broker = "redis (real Celery worker tests enabled)" if REDIS_URL else "none (tasks run eagerly; worker tests skip)"
    return [f"labelhub: database={engine} broker={broker}"]
