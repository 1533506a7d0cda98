"""Argument types shared by the management commands."""

from argparse import ArgumentTypeError
from datetime import date


def iso_date(value: str) -> date:
    """A YYYY-MM-DD argument; argparse names the option in its error message."""
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ArgumentTypeError(f"expects a date as YYYY-MM-DD, not {value!r}") from exc
