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
    settings.LABELHUB_WORK_DIR = tmp_path / "work"  # an export's scratch files (export/storing.py)


@pytest.fixture
def fast_passwords(settings):
    """For tests that log in or make users by the dozen: each PBKDF2 hash takes 1,000,000 iterations."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def eager():
    """Tasks run in the calling process (as without Redis), whatever the test mode."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


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


# --- an S3-compatible server on 127.0.0.1 (moto's standalone server), for object storage -------------

S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server in a thread of this process, on a free port: a real HTTP server that other
    processes (the several-hosts test's web servers and worker) reach too. Its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def object_storage(s3_server, settings, monkeypatch):
    """STORAGE_URL=s3://<a fresh bucket>/labelhub for this test, as settings.py reads it. Returns
    (a boto3 client of the server, the bucket, the prefix, the environment a subprocess needs)."""
    import uuid

    import boto3

    from labelhub.settings import storage_from_url

    bucket = f"labelhub-{uuid.uuid4().hex[:12]}"
    env = {**S3_ENV, "AWS_ENDPOINT_URL": s3_server, "STORAGE_URL": f"s3://{bucket}/labelhub"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=s3_server)
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {**settings.STORAGES, "default": storage_from_url(env["STORAGE_URL"])}
    yield client, bucket, "labelhub", env
