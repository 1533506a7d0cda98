"""The admin as an editor uses it: filters, the moderation queue, actions with a reason,
code-link corrections, subscribers, deliveries, the logs; and who may not use it."""

import importlib
import re
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import clear_url_caches
from django.utils import timezone

from digest.models import AuditLog, CodeLink, Delivery, IngestionRun, Paper, Subscriber
from digest.services import delivery, reader_data
from digest.services.moderation import report_problem
from digest.services.papers import primary_code_link
from digest.services.sources.fetch import replay
from tests.conftest import ARXIV_PAGES, HF_DAILY

pytestmark = pytest.mark.django_db

PAPERS = "/admin/digest/paper/"


@pytest.fixture
def papers():
    replay(paths=[ARXIV_PAGES[0], HF_DAILY])


def listed(response) -> set[str]:
    assert response.status_code == 200
    return {str(obj.pk) for obj in response.context["cl"].result_list}


def run_action(client, path: str, action: str, ids: list, **fields):
    """An admin action as the browser sends it: the list's form, then the confirmation."""
    first = client.post(path, {"action": action, "_selected_action": ids})
    if not fields:
        return first
    assert first.status_code == 200 and "form" in first.context
    return client.post(
        path, {"action": action, "_selected_action": ids, "confirm": "yes", **fields}
    )


# --- Who may come in ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/", PAPERS, "/admin/digest/auditlog/"])
def test_anonymous_visitors_are_sent_to_the_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_logged_in_reader_who_is_not_staff_cannot_act(client, papers):
    user = User.objects.create_user("reader", password="pw")
    client.force_login(user)
    response = client.post(
        PAPERS,
        {"action": "hide", "_selected_action": ["2512.13689"], "confirm": "yes", "reason": "x"},
    )
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not Paper.objects.get(pk="2512.13689").hidden


def test_staff_who_may_only_view_papers_cannot_run_actions(client, papers):
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_paper"))
    client.force_login(user)
    response = client.get(PAPERS)
    assert response.status_code == 200
    assert response.context["action_form"] is None  # no action offered at all
    client.post(
        PAPERS,
        {"action": "hide", "_selected_action": ["2512.13689"], "confirm": "yes", "reason": "x"},
    )
    assert not Paper.objects.get(pk="2512.13689").hidden
    assert client.get("/admin/digest/subscriber/").status_code == 403


def test_actions_need_the_csrf_token(papers, admin_user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(
        PAPERS,
        {"action": "hide", "_selected_action": ["2512.13689"], "confirm": "yes", "reason": "x"},
    )
    assert response.status_code == 403
    assert not Paper.objects.get(pk="2512.13689").hidden


@pytest.fixture
def admin_at_another_url(settings):
    settings.ADMIN_URL = "back-office/"
    import digest.urls

    importlib.reload(digest.urls)
    clear_url_caches()
    yield
    settings.ADMIN_URL = "admin/"
    importlib.reload(digest.urls)
    clear_url_caches()


def test_the_admin_url_is_a_setting(admin_client, admin_at_another_url):
    assert admin_client.get("/back-office/digest/paper/").status_code == 200
    assert admin_client.get("/admin/").status_code == 404


# --- Papers ------------------------------------------------------------------------------


def test_search_and_filters(admin_client, papers):
    assert listed(admin_client.get(PAPERS, {"q": "LitePT"})) == {"2512.13689"}
    with_code = listed(admin_client.get(PAPERS, {"has_code": "yes"}))
    assert with_code == set(
        Paper.objects.filter(code_links__isnull=False).values_list("pk", flat=True)
    )
    in_cl = listed(admin_client.get(PAPERS, {"categories__term__exact": "cs.CL"}))
    assert in_cl and in_cl == set(
        Paper.objects.filter(categories__term="cs.CL").values_list("pk", flat=True)
    )
    day = listed(
        admin_client.get(
            PAPERS, {"published__year": 2025, "published__month": 12, "published__day": 15}
        )
    )
    assert day == set(
        Paper.objects.filter(published__date=date(2025, 12, 15)).values_list("pk", flat=True)
    )


def test_hide_asks_for_a_reason_then_hides_and_logs(admin_client, admin_user, papers):
    response = run_action(admin_client, PAPERS, "hide", ["2512.13689"])
    assert response.status_code == 200
    assert "reason" in response.context["form"].fields
    assert not Paper.objects.get(pk="2512.13689").hidden
    response = run_action(admin_client, PAPERS, "hide", ["2512.13689"], reason="")
    assert response.status_code == 200 and response.context["form"].errors
    run_action(admin_client, PAPERS, "hide", ["2512.13689"], reason="duplicate entry")
    assert Paper.objects.get(pk="2512.13689").hidden
    entry = AuditLog.objects.get(action="hide")
    assert (entry.actor, entry.reason) == (admin_user, "duplicate entry")
    assert (entry.before, entry.after) == ({"hidden": False}, {"hidden": True})
    assert listed(admin_client.get(PAPERS, {"hidden__exact": "1"})) == {"2512.13689"}


def test_a_hidden_paper_is_gone_from_page_search_api_feeds_and_the_next_digest(
    admin_client, client, corpus, feed_reader, empty_cache, django_capture_on_commit_callbacks
):
    from digest.services.ranking.digests import pick_papers

    subscriber, _ = feed_reader
    day = date(2026, 6, 12)
    before = [
        pick.paper_id
        for pick in pick_papers(subscriber_ids=[subscriber.pk], day=day)[subscriber.pk]
    ]
    target = before[0]
    client.get("/api/papers/")  # a cached list, which must not outlive the change
    with django_capture_on_commit_callbacks(execute=True):
        run_action(admin_client, PAPERS, "hide", [target], reason="spam")
    assert client.get(f"/papers/{target}/").status_code == 404
    title = Paper.objects.get(pk=target).title
    assert target not in {p.pk for p in client.get("/search", {"q": title}).context["papers"]}
    assert target not in client.get("/", {"day": "2026-06-12"}).content.decode()
    assert target not in client.get("/api/papers/", {"page_size": 100}).content.decode()
    assert client.get(f"/api/papers/{target}/").status_code == 404
    assert target not in client.get("/api/digests/2026-06-12/").content.decode()
    assert target not in client.get("/feeds/trending.rss").content.decode()
    after = pick_papers(subscriber_ids=[subscriber.pk], day=day)[subscriber.pk]
    assert target not in {pick.paper_id for pick in after}


def test_feature_pins_a_paper_to_the_top_of_its_day(admin_client, client, corpus, empty_cache):
    last = client.get("/api/digests/2026-06-12/").json()["papers"][-1]["arxiv_id"]
    run_action(admin_client, PAPERS, "feature", [last], reason="editor's pick", day="2026-06-12")
    assert Paper.objects.get(pk=last).featured_on == date(2026, 6, 12)
    assert client.get("/", {"day": "2026-06-12"}).context["page"][0].pk == last
    assert client.get("/api/digests/2026-06-12/").json()["papers"][0]["arxiv_id"] == last
    assert AuditLog.objects.get(action="feature").after == {"featured_on": "2026-06-12"}


def test_the_feature_form_refuses_a_day_that_has_not_come(admin_client, papers):
    tomorrow = timezone.localdate() + timedelta(days=1)
    response = run_action(
        admin_client, PAPERS, "feature", ["2512.13689"], reason="soon", day=tomorrow.isoformat()
    )
    assert response.status_code == 200
    assert f"Pin to today or earlier, not {tomorrow.isoformat()}." in response.content.decode()
    assert Paper.objects.get(pk="2512.13689").featured_on is None


def test_the_moderation_queue_holds_flagged_and_reported_papers(admin_client, papers):
    run_action(admin_client, PAPERS, "flag", ["2512.13690"], reason="check the code link")
    report_problem(paper_id="2606.12730", reason="the repository is empty")
    assert listed(admin_client.get(PAPERS, {"queue": "flagged"})) == {"2512.13690", "2606.12730"}
    assert listed(admin_client.get(PAPERS, {"queue": "reported"})) == {"2606.12730"}
    run_action(admin_client, PAPERS, "clear_flag", ["2606.12730"], reason="fine")
    assert listed(admin_client.get(PAPERS, {"queue": "flagged"})) == {"2512.13690"}
    assert listed(admin_client.get(PAPERS, {"queue": "reported"})) == set()


def test_papers_cannot_be_added_or_deleted_here(admin_client, papers):
    assert admin_client.get(f"{PAPERS}add/").status_code == 403
    assert admin_client.get(f"{PAPERS}2512.13689/delete/").status_code == 403
    assert "delete_selected" not in dict(
        admin_client.get(PAPERS).context["action_form"].fields["action"].choices
    )


# --- Code-link corrections ---------------------------------------------------------------


def change(admin_client, arxiv_id: str, **fields):
    """Submit a paper's change form as a browser would: its hidden fields (the inlines'
    management forms) and the fields typed in."""
    path = f"{PAPERS}{arxiv_id}/change/"
    page = admin_client.get(path).content.decode()
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    return admin_client.post(path, {**hidden, **fields})


def test_correcting_a_code_link_records_who_and_why_and_survives_reingestion(
    admin_client, admin_user, papers
):
    response = admin_client.get(f"{PAPERS}2606.12730/change/")
    upstream = primary_code_link(Paper.objects.get(pk="2606.12730")).url
    assert response.context["adminform"].form["code_url"].initial == upstream
    response = change(
        admin_client,
        "2606.12730",
        code_url="https://github.com/psychology-of-AI/psychometric-eval",
        code_change_reason="the upstream repository is an empty mirror",
    )
    assert response.status_code == 302
    link = primary_code_link(Paper.objects.get(pk="2606.12730"))
    assert link.url == "https://github.com/psychology-of-AI/psychometric-eval"
    assert (link.source, link.changed_by) == (CodeLink.Source.ADMIN, admin_user)
    assert link.change_reason == "the upstream repository is an empty mirror"
    replay(paths=[HF_DAILY])
    assert primary_code_link(Paper.objects.get(pk="2606.12730")) == link
    assert AuditLog.objects.get(action="code-link").before == {"code_url": upstream}


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"code_url": "https://github.com/a/b", "code_change_reason": ""},
            "code_change_reason",
            "Say why",
        ),
        (
            {"code_url": "https://github.com/a", "code_change_reason": "x"},
            "code_url",
            "does not name",
        ),
        ({"code_url": "", "code_change_reason": "x"}, "code_url", "replaced, not removed"),
    ],
)
def test_a_bad_correction_is_shown_back_and_changes_nothing(
    admin_client, papers, fields, field, message
):
    before = list(CodeLink.objects.values())
    response = change(admin_client, "2512.13689", **fields)
    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors[field])
    assert list(CodeLink.objects.values()) == before
    assert not AuditLog.objects.exists()


# --- Subscribers and deliveries ----------------------------------------------------------


@pytest.fixture
def subscribers(db):
    return {
        status: Subscriber.objects.create(email=f"{status}@example.org", status=status)
        for status in ("pending", "active", "paused")
    }


def test_subscribers_can_be_searched_and_filtered(admin_client, subscribers):
    path = "/admin/digest/subscriber/"
    assert listed(admin_client.get(path, {"q": "paused@"})) == {str(subscribers["paused"].pk)}
    assert listed(admin_client.get(path, {"status__exact": "active"})) == {
        str(subscribers["active"].pk)
    }


def test_pause_and_resume_go_through_the_subscription_rules_and_are_logged(
    admin_client, subscribers
):
    path = "/admin/digest/subscriber/"
    ids = [s.pk for s in subscribers.values()]
    run_action(admin_client, path, "pause", ids)
    statuses = dict(Subscriber.objects.values_list("email", "status"))
    # Only the active reader pauses; a pending one has nothing to pause.
    assert statuses == {
        "pending@example.org": "pending",
        "active@example.org": "paused",
        "paused@example.org": "paused",
    }
    assert AuditLog.objects.filter(action="pause").count() == 1
    run_action(admin_client, path, "resume", ids)
    assert Subscriber.objects.filter(status="active").count() == 2
    assert AuditLog.objects.filter(action="resume").count() == 2


def test_resend_confirmation_mails_pending_subscribers_only(
    admin_client, subscribers, eager_tasks, mailoutbox, django_capture_on_commit_callbacks
):
    ids = [s.pk for s in subscribers.values()]
    with django_capture_on_commit_callbacks(execute=True):
        run_action(admin_client, "/admin/digest/subscriber/", "resend_confirmation", ids)
    assert [message.to for message in mailoutbox] == [["pending@example.org"]]
    assert "Confirm" in mailoutbox[0].subject
    assert AuditLog.objects.get(action="resend-confirmation").target_id == str(
        subscribers["pending"].pk
    )


def test_a_subscribers_page_lists_their_deliveries(admin_client, subscribers):
    subscriber = subscribers["active"]
    Delivery.objects.create(subscriber=subscriber, local_date=date(2026, 6, 12), state="sent")
    response = admin_client.get(f"/admin/digest/subscriber/{subscriber.pk}/change/")
    assert response.status_code == 200
    assert (
        "12 June 2026" in response.content.decode() or "June 12, 2026" in response.content.decode()
    )


def test_a_failed_delivery_is_queued_again(
    admin_client, admin_user, subscribers, django_capture_on_commit_callbacks
):
    failed = Delivery.objects.create(
        subscriber=subscribers["active"],
        local_date=date(2026, 6, 12),
        state=Delivery.State.FAILED,
        attempts=5,
        error="550 5.1.1 no such user",
    )
    sent = Delivery.objects.create(
        subscriber=subscribers["paused"], local_date=date(2026, 6, 12), state=Delivery.State.SENT
    )
    path = "/admin/digest/delivery/"
    assert listed(admin_client.get(path, {"state__exact": "failed"})) == {str(failed.pk)}
    with django_capture_on_commit_callbacks() as queued:
        run_action(admin_client, path, "retry", [failed.pk, sent.pk])
    failed.refresh_from_db()
    assert (failed.state, failed.attempts, failed.error) == ("pending", 0, "")
    assert Delivery.objects.get(pk=sent.pk).state == "sent"
    assert len(queued) == 1  # one send task, queued once the change is committed
    entry = AuditLog.objects.get(action="retry-delivery")
    assert entry.before == {"state": "failed", "error": "550 5.1.1 no such user"}


def test_a_delivery_retried_after_a_day_is_not_given_up_again(
    admin_client, subscribers, django_capture_on_commit_callbacks
):
    failed = Delivery.objects.create(
        subscriber=subscribers["active"], local_date=date(2026, 6, 12), state="failed"
    )
    Delivery.objects.filter(pk=failed.pk).update(created_at=timezone.now() - timedelta(days=2))
    with django_capture_on_commit_callbacks():
        run_action(admin_client, "/admin/digest/delivery/", "retry", [failed.pk])
    delivery.recover(now=timezone.now())  # the scheduled repair, before the task runs
    assert Delivery.objects.get(pk=failed.pk).state == "pending"


def test_a_failed_delivery_of_a_paused_reader_is_kept_and_not_queued(
    admin_client, subscribers, django_capture_on_commit_callbacks
):
    # Paused by repeated hard bounces: the failed digest is the record of why.
    reader = subscribers["paused"]
    Subscriber.objects.filter(pk=reader.pk).update(hard_bounces=3)
    failed = Delivery.objects.create(
        subscriber=reader, local_date=date(2026, 6, 12), state="failed", error="550 5.1.1"
    )
    with django_capture_on_commit_callbacks() as queued:
        run_action(admin_client, "/admin/digest/delivery/", "retry", [failed.pk])
    assert queued == []
    assert Delivery.objects.get(pk=failed.pk).state == "failed"
    page = admin_client.get("/admin/digest/delivery/").content.decode()
    assert "1 of them for readers not active" in page


# --- Logs --------------------------------------------------------------------------------


def test_ingestion_runs_are_listed_with_counts_and_read_only(admin_client, papers):
    response = admin_client.get("/admin/digest/ingestionrun/")
    runs = response.context["cl"].result_list
    assert {(run.source, run.new) for run in runs} == {("arxiv", 100), ("huggingface", 30)}
    run = IngestionRun.objects.first()
    assert admin_client.get("/admin/digest/ingestionrun/add/").status_code == 403
    assert admin_client.post(f"/admin/digest/ingestionrun/{run.pk}/change/", {}).status_code == 403
    assert (
        admin_client.post(
            f"/admin/digest/ingestionrun/{run.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )


def test_the_audit_log_is_readable_and_never_editable(admin_client, papers):
    run_action(admin_client, PAPERS, "flag", ["2512.13689"], reason="look")
    entry = AuditLog.objects.get()
    path = "/admin/digest/auditlog/"
    assert listed(admin_client.get(path)) == {str(entry.pk)}
    page = admin_client.get(f"{path}{entry.pk}/change/")
    assert page.status_code == 200 and "look" in page.content.decode()
    assert admin_client.get(f"{path}add/").status_code == 403
    assert admin_client.post(f"{path}{entry.pk}/change/", {"reason": "edited"}).status_code == 403
    assert admin_client.post(f"{path}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditLog.objects.get().reason == "look"


def test_an_editor_corrects_the_code_status_on_the_papers_page(admin_client, admin_user, papers):
    response = admin_client.get(f"{PAPERS}2606.12730/change/")
    assert response.context["adminform"].form["code_status_choice"].initial == "auto"
    kept = {"code_url": primary_code_link(Paper.objects.get(pk="2606.12730")).url}
    refused = change(admin_client, "2606.12730", code_status_choice="announced", **kept)
    assert "Say why the code status changes." in refused.content.decode()
    response = change(
        admin_client,
        "2606.12730",
        **kept,
        code_status_choice="announced",
        code_change_reason="the repository only holds a README saying soon",
    )
    assert response.status_code == 302
    paper = Paper.objects.get(pk="2606.12730")
    assert (paper.code_status, paper.code_status_by_editor) == ("announced", True)
    entry = AuditLog.objects.get(action="code-status")
    assert (entry.actor, entry.before["code_status"], entry.after["code_status"]) == (
        admin_user,
        "released",
        "announced",
    )
    # Hugging Face still names the repository: the editor's status stays.
    replay(paths=[HF_DAILY])
    assert Paper.objects.get(pk="2606.12730").code_status == "announced"


def test_a_retried_deliverys_audit_keeps_the_error_but_not_the_readers_address(
    admin_client, subscribers, django_capture_on_commit_callbacks
):
    # Relays quote the recipient in their refusals; the audit log outlives "delete my data".
    reader = subscribers["active"]
    failed = Delivery.objects.create(
        subscriber=reader,
        local_date=date(2026, 6, 12),
        state=Delivery.State.FAILED,
        error="550 5.1.1 <Active@Example.org>: Recipient address rejected: mailbox full",
    )
    with django_capture_on_commit_callbacks():
        run_action(admin_client, "/admin/digest/delivery/", "retry", [failed.pk])
    reader_data.delete(subscriber_id=reader.pk)
    entry = AuditLog.objects.get(action="retry-delivery")
    assert entry.before["error"] == (
        "550 5.1.1 <[reader's address]>: Recipient address rejected: mailbox full"
    )
    assert not any(
        "example.org" in str([row.before, row.after, row.reason]).lower()
        for row in AuditLog.objects.all()
    )
