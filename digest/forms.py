"""Forms of the subscription pages: every field validated here, with an error a reader can act
on, before a service sees it."""

from zoneinfo import available_timezones

from django import forms

from digest.services.ranking.categories import CATEGORY_NAMES
from digest.services.subscriptions import Preferences

TIMEZONES = sorted(available_timezones())
MAX_DIGEST_SIZE = 30


class PreferencesForm(forms.Form):
    interests = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Topics you follow, one per line or separated by commas.",
    )
    categories = forms.MultipleChoiceField(
        required=False,
        choices=[(term, f"{term} {name}") for term, name in sorted(CATEGORY_NAMES.items())],
        widget=forms.CheckboxSelectMultiple,
        help_text="Optional arXiv categories.",
    )
    delivery_hour = forms.TypedChoiceField(
        label="Delivery time",
        coerce=int,
        initial=8,
        choices=[(hour, f"{hour:02d}:00") for hour in range(24)],
    )
    timezone = forms.ChoiceField(
        label="Time zone", initial="UTC", choices=[(name, name) for name in TIMEZONES]
    )
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
    email = forms.EmailField(label="Email address", max_length=254)

    field_order = ["email", "interests", "categories", "delivery_hour", "timezone", "digest_size"]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            # timezone.js replaces the UTC default with the zone the browser reports.
            self.fields["timezone"].widget.attrs["data-browser-default"] = "true"
