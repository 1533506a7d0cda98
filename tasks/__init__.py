from tasks.celery import app

__all__ = ["app"]
