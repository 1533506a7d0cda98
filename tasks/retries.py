"""What a task may retry: the database went away (restart, failover, a killed connection).
The next try gets a new connection (Celery's Django fixup closes them around each task)."""

from django.db import InterfaceError, OperationalError

DATABASE_ERRORS = (OperationalError, InterfaceError)
