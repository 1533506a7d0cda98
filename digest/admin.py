"""The admin, made for moderation: papers (hide, feature, flag, correct the code link), the
moderation queue, readers' reports, subscribers and their deliveries, ingestion runs, and the
audit log. Staff only and CSRF-protected (Django admin); served at settings.ADMIN_URL.

Changes go through services, which write the audit log; the admin never edits a model field
directly, so nothing here escapes the log. The log itself is read-only.
"""

from datetime import date
from functools import partial

from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from digest.models import (
    AuditLog,
    CodeLink,
    Delivery,
    IngestionRun,
    Paper,
    ProblemReport,
    Subscriber,
)
from digest.services import subscriber_admin
from digest.services.moderation import (
    AUTOMATIC,
    ModerationError,
    PaperAction,
    check_pin_day,
    correct_code_link,
    correct_code_status,
    moderate_papers,
    repository,
)
from digest.services.papers import primary_code_link
from digest.services.subscriptions import Notice
from tasks.mail import send_digest_chunk, send_subscription_email

admin.site.site_header = "digest admin"
admin.site.site_title = "digest admin"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Visible to staff with the view permission; nobody adds, changes or deletes here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


# --- Papers ------------------------------------------------------------------------------


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Goes into the audit log (and, for a flag, into the moderation queue).",
    )


class FeatureForm(ReasonForm):
    day = forms.DateField(
        initial=timezone.localdate,
        help_text="The paper is pinned to the top of this day (today or earlier).",
    )

    def clean_day(self) -> date:
        # The service's own rule, so the editor sees it on the form, not as an error page.
        try:
            return check_pin_day(self.cleaned_data["day"])
        except ModerationError as error:
            raise forms.ValidationError(str(error)) from error


def paper_action(action: PaperAction, description: str, form_class: type[ReasonForm]):
    """An admin action that asks for a reason (and a day, to feature) on a confirmation page,
    then applies `action` through the moderation service."""

    @admin.action(description=description, permissions=["change"])
    def run(modeladmin: "PaperAdmin", request: HttpRequest, papers: QuerySet[Paper]):
        form = form_class(request.POST if "confirm" in request.POST else None)
        if not form.is_valid():
            context = {
                **modeladmin.admin_site.each_context(request),
                "title": description,
                "opts": modeladmin.model._meta,
                "form": form,
                "papers": papers,
                "action_name": request.POST["action"],
                "checkbox_name": ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/digest/paper/moderate.html", context)
        # The form asks for what the service needs (a reason; a day to feature).
        changed = moderate_papers(
            paper_ids=list(papers.values_list("pk", flat=True)),
            action=action,
            actor=request.user,
            reason=form.cleaned_data["reason"],
            day=form.cleaned_data.get("day"),
        )
        modeladmin.message_user(request, f"{description}: {changed} paper(s) changed.")
        return None

    run.__name__ = action.replace("-", "_")
    return run


class QueueFilter(admin.SimpleListFilter):
    title = "moderation queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin):
        return [("flagged", "Flagged for review"), ("reported", "Open reader reports")]

    def queryset(self, request: HttpRequest, papers: QuerySet[Paper]):
        if self.value() == "flagged":
            return papers.filter(flagged=True)
        if self.value() == "reported":
            return papers.filter(reports__resolved=False).distinct()
        return papers


class HasCodeFilter(admin.SimpleListFilter):
    title = "code"
    parameter_name = "has_code"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin):
        return [("yes", "Has code"), ("no", "No code")]

    def queryset(self, request: HttpRequest, papers: QuerySet[Paper]):
        if self.value() in ("yes", "no"):
            return papers.filter(code_links__isnull=self.value() == "no").distinct()
        return papers


class PaperModerationForm(forms.ModelForm):
    """The one thing edited on a paper's page: its code link, with the reason for the change."""

    code_url = forms.CharField(
        required=False,
        label="Code link",
        help_text="Repository URL. Yours wins over upstream links; ingestion never replaces it.",
    )
    code_status_choice = forms.ChoiceField(
        required=False,
        label="Code status",
        choices=[(AUTOMATIC, "Automatic (as the checks find it)"), *Paper.CodeStatus.choices],
        help_text="Yours is kept against every automatic check until you set it back to "
        "automatic. Released tells the readers who got the paper without code.",
    )
    code_change_reason = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Why"
    )

    class Meta:
        model = Paper
        fields: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        link = primary_code_link(self.instance)
        self.fields["code_url"].initial = link.url if link else ""
        by_editor = self.instance.code_status_by_editor
        self.fields["code_status_choice"].initial = (
            self.instance.code_status if by_editor else AUTOMATIC
        )

    def code_status_changed(self) -> bool:
        # A form posted without the field (a script, an older page) changes nothing.
        return "code_status_choice" in self.changed_data and bool(
            self.cleaned_data.get("code_status_choice")
        )

    def clean(self) -> dict:
        data = super().clean()
        if self.code_status_changed() and not data.get("code_change_reason", "").strip():
            self.add_error("code_change_reason", "Say why the code status changes.")
        if "code_url" not in self.changed_data:
            return data
        if not data.get("code_url"):
            self.add_error("code_url", "A link can be replaced, not removed: flag or hide instead.")
        else:
            try:
                repository(data["code_url"])
            except ModerationError as error:
                self.add_error("code_url", str(error))
        if not data.get("code_change_reason", "").strip():
            self.add_error("code_change_reason", "Say why the code link changes.")
        return data


class CodeLinkInline(ReadOnlyInline):
    model = CodeLink
    fields = ["url", "source", "stars", "changed_by", "change_reason", "created_at"]
    readonly_fields = fields


class ProblemReportInline(ReadOnlyInline):
    model = ProblemReport
    fields = ["reason", "created_at", "resolved"]
    readonly_fields = fields


PAPER_FIELDS = [
    "arxiv_id",
    "version",
    "title",
    "authors",
    "abstract",
    "primary_category",
    "categories",
    "published",
    "updated",
    "comment",
    "journal_ref",
    "doi",
    "abs_url",
    "pdf_url",
    "metadata_source",
    "first_seen_at",
    "changed_at",
]
MODERATION_FIELDS = ["hidden", "featured_on", "flagged", "flag_reason"]
CODE_EDIT_FIELDS = ["code_url", "code_status_choice", "code_change_reason"]
CODE_STATUS_FIELDS = [
    "code_status",
    "code_released_at",
    "code_status_by_editor",
    "code_checked_at",
    "code_next_check_at",
]


@admin.register(Paper)
class PaperAdmin(admin.ModelAdmin):
    form = PaperModerationForm
    list_display = [
        "arxiv_id",
        "title",
        "primary_category",
        "published",
        "code",
        "code_status",
        "hidden",
        "featured_on",
        "flagged",
        "flag_reason",
    ]
    list_filter = [
        QueueFilter,
        HasCodeFilter,
        "code_status",
        ("categories", admin.RelatedOnlyFieldListFilter),
        "hidden",
        "featured_on",
        "flagged",
    ]
    date_hierarchy = "published"
    search_fields = ["arxiv_id", "title", "abstract"]
    readonly_fields = [*MODERATION_FIELDS, *CODE_STATUS_FIELDS, *PAPER_FIELDS]
    fieldsets = [
        ("Moderation (use the actions on the list)", {"fields": MODERATION_FIELDS}),
        (
            "Code",
            {
                "fields": [
                    "code_url",
                    "code_status_choice",
                    "code_change_reason",
                    *CODE_STATUS_FIELDS,
                ]
            },
        ),
        ("Paper, as upstream says", {"fields": PAPER_FIELDS}),
    ]
    inlines = [CodeLinkInline, ProblemReportInline]
    actions = [
        paper_action(PaperAction.HIDE, "Hide everywhere", ReasonForm),
        paper_action(PaperAction.UNHIDE, "Show again", ReasonForm),
        paper_action(PaperAction.FEATURE, "Feature (pin to the top of a day)", FeatureForm),
        paper_action(PaperAction.UNFEATURE, "Stop featuring", ReasonForm),
        paper_action(PaperAction.FLAG, "Flag for review", ReasonForm),
        paper_action(PaperAction.CLEAR_FLAG, "Reviewed: clear flag, resolve reports", ReasonForm),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Paper]:
        return super().get_queryset(request).prefetch_related("code_links")

    def get_actions(self, request: HttpRequest) -> dict:
        # Papers come back with every ingestion: hiding is the way to remove one.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="code")
    def code(self, paper: Paper) -> str:
        link = primary_code_link(paper)
        return link.url if link else "-"

    def save_model(self, request: HttpRequest, paper: Paper, form: forms.Form, change: bool):
        # Upstream fields are read-only here; the code link and status are the changes to save.
        if "code_url" in form.changed_data:
            correct_code_link(
                paper=paper,
                url=form.cleaned_data["code_url"],
                actor=request.user,
                reason=form.cleaned_data["code_change_reason"],
            )
        if form.code_status_changed():
            correct_code_status(
                paper_id=paper.pk,
                status=form.cleaned_data["code_status_choice"],
                actor=request.user,
                reason=form.cleaned_data["code_change_reason"],
            )


@admin.register(ProblemReport)
class ProblemReportAdmin(ReadOnlyAdmin):
    """Readers' reports; clearing the paper's flag resolves them."""

    list_display = ["paper", "reason", "created_at", "resolved"]
    list_filter = ["resolved", "created_at"]
    search_fields = ["paper__arxiv_id", "paper__title", "reason"]
    list_select_related = ["paper"]


# --- Subscribers and deliveries ----------------------------------------------------------


class DeliveryInline(ReadOnlyInline):
    model = Delivery
    fields = ["local_date", "state", "attempts", "error", "subject", "sent_at"]
    readonly_fields = fields
    show_change_link = True


@admin.register(Subscriber)
class SubscriberAdmin(ReadOnlyAdmin):
    list_display = [
        "email",
        "status",
        "unsubscribed_because",
        "created_at",
        "confirmed_at",
        "hard_bounces",
    ]
    list_filter = ["status", "unsubscribed_because", "digest_weekday", "created_at"]
    search_fields = ["email"]
    exclude = ["topic_vectors", "feed_token"]
    inlines = [DeliveryInline]
    actions = ["pause", "resume", "resend_confirmation"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Actions need the change permission; the fields themselves stay read-only.
        return request.user.has_perm("digest.change_subscriber")

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return [field.name for field in Subscriber._meta.fields if field.name not in self.exclude]

    @admin.action(description="Pause", permissions=["change"])
    def pause(self, request: HttpRequest, subscribers: QuerySet[Subscriber]) -> None:
        ids = list(subscribers.values_list("pk", flat=True))
        changed = subscriber_admin.set_paused(subscriber_ids=ids, paused=True, actor=request.user)
        self.message_user(request, f"Paused {changed} active subscriber(s).")

    @admin.action(description="Resume", permissions=["change"])
    def resume(self, request: HttpRequest, subscribers: QuerySet[Subscriber]) -> None:
        ids = list(subscribers.values_list("pk", flat=True))
        changed = subscriber_admin.set_paused(subscriber_ids=ids, paused=False, actor=request.user)
        self.message_user(request, f"Resumed {changed} paused subscriber(s).")

    @admin.action(description="Resend confirmation email", permissions=["change"])
    def resend_confirmation(self, request: HttpRequest, subscribers: QuerySet[Subscriber]):
        ids = subscriber_admin.confirmations_to_resend(
            subscriber_ids=list(subscribers.values_list("pk", flat=True)), actor=request.user
        )
        for subscriber_id in ids:
            transaction.on_commit(
                partial(send_subscription_email.delay, subscriber_id, str(Notice.CONFIRM))
            )
        self.message_user(request, f"Queued {len(ids)} confirmation email(s) (pending only).")


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["subscriber", "local_date", "state", "attempts", "error", "sent_at"]
    list_filter = ["state", "local_date"]
    search_fields = ["subscriber__email", "error"]
    list_select_related = ["subscriber"]
    actions = ["retry"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.has_perm("digest.change_delivery")

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return [field.name for field in Delivery._meta.fields]

    @admin.action(description="Retry failed deliveries", permissions=["change"])
    def retry(self, request: HttpRequest, deliveries: QuerySet[Delivery]) -> None:
        retried = subscriber_admin.retry_failed_deliveries(
            delivery_ids=list(deliveries.values_list("pk", flat=True)), actor=request.user
        )
        if retried.delivery_ids:
            transaction.on_commit(partial(send_digest_chunk.delay, retried.delivery_ids))
        message = f"Queued {len(retried.delivery_ids)} failed delivery(ies) again."
        if retried.inactive:
            message += f" Left {retried.inactive} of them for readers not active: resume first."
        self.message_user(request, message)


# --- Logs --------------------------------------------------------------------------------


@admin.register(IngestionRun)
class IngestionRunAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "source",
        "status",
        "new",
        "updated",
        "unchanged",
        "error",
        "finished_at",
    ]
    list_filter = ["source", "status", "started_at"]
    search_fields = ["origin", "error"]


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor", "action", "target_type", "target_id", "reason"]
    list_filter = ["action", "target_type", "at"]
    search_fields = ["target_id", "reason", "actor__username"]
    list_select_related = ["actor"]
    readonly_fields = ["at", "actor", "action", "target_type", "target_id", "before", "after"]
