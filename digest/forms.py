"""Forms of the subscription pages: every field validated here, with an error a reader can act
on, before a service sees it."""

from importlib.resources import files

from django import forms

from digest.services.ranking.categories import CATEGORY_NAMES
from digest.services.subscriptions import Preferences, validate_address


def iana_zones() -> list[str]:
    """The zones of IANA's zone.tab (one or more per country) and UTC. The system's list
    (zoneinfo.available_timezones) also holds files that are no place: `Factory`,
    `localtime`, `posixrules`, whatever the host put in its zoneinfo folder."""
    table = files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
    rows = (line.split("\t") for line in table.splitlines() if line and line[0] != "#")
    return sorted({row[2] for row in rows} | {"UTC"})


TIMEZONES = iana_zones()
MAX_DIGEST_SIZE = 30
TIMEZONE_CHOICES = [(name, name) for name in TIMEZONES]
TIMEZONE_SET = frozenset(TIMEZONES)
CATEGORY_CHOICES = [(term, f"{term} {name}") for term, name in sorted(CATEGORY_NAMES.items())]


# Django deep-copies a form's fields, choices included, for every form it builds: a list of
# 600 time zones made that copy a third of a signup's CPU time. Choices given as a function are
# copied as the function, and read when a page renders or a value is checked.
def timezone_choices() -> list[tuple[str, str]]:
    return TIMEZONE_CHOICES


def category_choices() -> list[tuple[str, str]]:
    return CATEGORY_CHOICES


class TimeZoneField(forms.ChoiceField):
    """One of the IANA time zones, looked up in a set rather than by walking the 600 choices."""

    def valid_value(self, value: str) -> bool:
        return value in TIMEZONE_SET


class PreferencesForm(forms.Form):
    interests = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Topics you follow, one per line or separated by commas.",
    )
    categories = forms.MultipleChoiceField(
        required=False,
        choices=category_choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="Optional arXiv categories.",
    )
    delivery_hour = forms.TypedChoiceField(
        label="Delivery time",
        coerce=int,
        initial=8,
        choices=[(hour, f"{hour:02d}:00") for hour in range(24)],
    )
    timezone = TimeZoneField(label="Time zone", initial="UTC", choices=timezone_choices)
    digest_size = forms.IntegerField(
        label="Papers per digest", min_value=1, max_value=MAX_DIGEST_SIZE, initial=10
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        if not cleaned.get("interests", "").strip() and not cleaned.get("categories"):
            raise forms.ValidationError(
                "Tell us at least one topic or pick a category, so we know what to send you."
            )
        return cleaned

    def preferences(self) -> Preferences:
        data = self.cleaned_data
        return Preferences(
            interests=data["interests"].strip(),
            categories=data["categories"],
            delivery_hour=data["delivery_hour"],
            timezone=data["timezone"],
            digest_size=data["digest_size"],
        )


class SubscribeForm(PreferencesForm):
    email = forms.EmailField(label="Email address", max_length=254, validators=[validate_address])

    field_order = ["email", "interests", "categories", "delivery_hour", "timezone", "digest_size"]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            # timezone.js replaces the UTC default with the zone the browser reports.
            self.fields["timezone"].widget.attrs["data-browser-default"] = "true"
