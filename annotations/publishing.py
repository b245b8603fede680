"""Sending a job's task from a door (view, API) once its row is committed, and what happens when
the broker cannot be reached: the job is marked failed with a message saying so, and the door
answers 503 (BrokerUnavailable is a DRF APIException; pages catch it). Nothing is left queued
forever. The door passes the task in: this module imports no task."""

from collections.abc import Callable

from django.db import transaction
from kombu.exceptions import OperationalError as KombuOperationalError
from rest_framework.exceptions import APIException

BROKER_DOWN = "the job queue (Redis) cannot be reached: the job was not started; try again in a minute"


class BrokerUnavailable(APIException):
    status_code = 503
    default_detail = BROKER_DOWN
    default_code = "broker_unavailable"


def send_after_commit(task, *, kwargs: dict, on_unreachable: Callable[[str], None] = lambda message: None) -> None:
    """`task.apply_async(kwargs=...)` after the current transaction commits (at once outside one,
    as in a view without ATOMIC_REQUESTS). Broker unreachable: `on_unreachable(message)` (mark
    the job failed), then BrokerUnavailable."""

    def send() -> None:
        try:
            task.apply_async(kwargs=kwargs)
        # kombu's OperationalError: the broker; RuntimeError: Celery's Redis result backend, when it
        # cannot subscribe to the task's result ("Retry limit exceeded ... result store").
        except (KombuOperationalError, ConnectionError, TimeoutError, OSError, RuntimeError) as exc:
            on_unreachable(BROKER_DOWN)
            raise BrokerUnavailable() from exc

    transaction.on_commit(send)
