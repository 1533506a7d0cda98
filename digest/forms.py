"""Forms of the subscription pages: every field validated here, with an error a reader can act
on, before a service sees it."""

import calendar
from importlib.resources import files

from django import forms
from django.conf import settings

from digest.references import ReferenceError, arxiv_ids_in, arxiv_ids_in_bibtex
from digest.services.ranking.categories import CATEGORY_NAMES
from digest.services.seeds import MAX_SEEDS
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
MAX_TRENDING = 10
MAX_AUTHORS = 50
MAX_AUTHOR_LENGTH = 200
TIMEZONE_CHOICES = [(name, name) for name in TIMEZONES]
TIMEZONE_SET = frozenset(TIMEZONES)
WEEKDAY_CHOICES = [("", "Every day")] + [
    (str(number), f"Weekly, on {name}") for number, name in enumerate(calendar.day_name)
]
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


def _lines(text: str) -> list[str]:
    return list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))


class PreferencesForm(forms.Form):
    interests = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Topics you follow, one per line (or separated by commas or semicolons). "
        "Each counts on its own; exact names such as datasets or methods count too.",
    )
    categories = forms.MultipleChoiceField(
        required=False,
        choices=category_choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="Optional arXiv categories: their papers get a boost.",
    )
    categories_only = forms.BooleanField(
        required=False,
        label="Only papers in these categories",
        help_text="Leave out papers outside the categories you picked (followed authors "
        "still come).",
    )
    followed_authors = forms.CharField(
        required=False,
        label="Authors you follow",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One name per line: their new papers always come first.",
    )
    papers = forms.CharField(
        required=False,
        label="Papers you know",
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "2512.13690 or https://arxiv.org/abs/2512.13690"}
        ),
        help_text="arXiv ids or links, any separator: each counts as a paper you liked.",
    )
    bibtex = forms.FileField(
        required=False,
        label="Or a BibTeX file",
        help_text="Its entries with an arXiv id count as papers you liked.",
    )
    delivery_hour = forms.TypedChoiceField(
        label="Delivery time",
        coerce=int,
        initial=8,
        choices=[(hour, f"{hour:02d}:00") for hour in range(24)],
    )
    timezone = TimeZoneField(label="Time zone", initial="UTC", choices=timezone_choices)
    digest_size = forms.IntegerField(
        label="Papers for you, at most", min_value=1, max_value=MAX_DIGEST_SIZE, initial=10
    )
    trending_count = forms.IntegerField(
        required=False,
        label="Trending papers after yours",
        min_value=0,
        max_value=MAX_TRENDING,
        initial=3,
        help_text="The day's most talked-about papers, in a section of their own (0 for none).",
    )
    trending_dial = forms.IntegerField(
        required=False,
        label="Order of your papers",
        min_value=0,
        max_value=100,
        widget=forms.NumberInput(attrs={"type": "range", "step": 10, "list": "dial-marks"}),
        help_text="From only my interests (left) to mostly what is trending (right).",
    )
    send_when_empty = forms.BooleanField(
        required=False,
        label="Send the trending section on days when nothing matches my interests",
    )
    follow_code_out = forms.BooleanField(
        required=False,
        initial=True,
        label="Tell me when the code of a paper I got comes out",
        help_text='A short "Code is now out" section, once per paper.',
    )
    follow_taking_off = forms.BooleanField(
        required=False,
        initial=True,
        label="Tell me when a paper I got takes off on GitHub",
        help_text='A short "Taking off" section when its stars grow sharply, once per paper.',
    )

    # Reader controls (issue 16).
    digest_weekday = forms.TypedChoiceField(
        required=False,
        label="How often",
        coerce=int,
        empty_value=None,
        choices=WEEKDAY_CHOICES,
        help_text="Weekly: one digest of the week's best papers, on the day you pick.",
    )

    def __init__(self, *args: object, has_liked: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # A reader who liked papers already has interests to go on.
        self.has_liked = has_liked
        self.fields["trending_dial"].initial = round(100 * settings.RANK_TRENDING_WEIGHT)

    def clean_followed_authors(self) -> list[str]:
        names = _lines(self.cleaned_data["followed_authors"])
        if len(names) > MAX_AUTHORS:
            raise forms.ValidationError(f"Follow at most {MAX_AUTHORS} authors.")
        if any(len(name) > MAX_AUTHOR_LENGTH for name in names):
            raise forms.ValidationError(f"A name is longer than {MAX_AUTHOR_LENGTH} characters.")
        return names

    def clean_papers(self) -> list[str]:
        text = self.cleaned_data["papers"]
        ids = arxiv_ids_in(text)
        if text.strip() and not ids:
            raise forms.ValidationError(
                "No arXiv id found: paste ids such as 2512.13690 or links to arxiv.org."
            )
        return ids

    def clean_bibtex(self) -> list[str]:
        upload = self.cleaned_data.get("bibtex")
        if not upload:
            return []
        try:
            ids = arxiv_ids_in_bibtex(upload.read())
        except ReferenceError as exc:
            raise forms.ValidationError(str(exc)) from exc
        if not ids:
            raise forms.ValidationError("None of the file's entries names an arXiv paper.")
        return ids

    def clean(self) -> dict:
        cleaned = super().clean()
        seeds = self.seed_ids()
        if len(seeds) > MAX_SEEDS:
            raise forms.ValidationError(f"At most {MAX_SEEDS} papers at once, please.")
        wants = (
            cleaned.get("interests", "").strip(),
            cleaned.get("categories"),
            cleaned.get("followed_authors"),
            seeds,
            self.has_liked,
        )
        if not any(wants):
            raise forms.ValidationError(
                "Tell us at least one topic, category, author or paper, so we know what to "
                "send you."
            )
        return cleaned

    def seed_ids(self) -> list[str]:
        """arXiv ids of the papers the reader says they know (pasted and uploaded)."""
        data = self.cleaned_data
        return list(dict.fromkeys(data.get("papers", []) + data.get("bibtex", [])))

    def preferences(self) -> Preferences:
        data = self.cleaned_data
        return Preferences(
            interests=data["interests"].strip(),
            categories=data["categories"],
            delivery_hour=data["delivery_hour"],
            timezone=data["timezone"],
            digest_size=data["digest_size"],
            followed_authors=data["followed_authors"],
            categories_only=data["categories_only"],
            trending_count=3 if data["trending_count"] is None else data["trending_count"],
            trending_weight=None if data["trending_dial"] is None else data["trending_dial"] / 100,
            send_when_empty=data["send_when_empty"],
            follow_code_out=data["follow_code_out"],
            follow_taking_off=data["follow_taking_off"],
            digest_weekday=data["digest_weekday"],
        )


class SubscribeForm(PreferencesForm):
    email = forms.EmailField(label="Email address", max_length=254, validators=[validate_address])

    field_order = ["email", "interests", "categories", "categories_only", "followed_authors"]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            # timezone.js replaces the UTC default with the zone the browser reports.
            self.fields["timezone"].widget.attrs["data-browser-default"] = "true"


class AddressForm(forms.Form):
    """A reader's new address (issue 16): it takes effect once confirmed from there."""

    new_email = forms.EmailField(
        label="New email address", max_length=254, validators=[validate_address]
    )
