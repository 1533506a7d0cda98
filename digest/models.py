"""The data model: papers, their code links, trending signals and the ingestion log."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from digest.codelinks import RepoRef, parse_repo_url


class Category(models.Model):
    """An arXiv category such as cs.LG; a table so that "papers in cs.CL" is an indexed join."""

    term = models.CharField(max_length=32, primary_key=True)

    class Meta:
        ordering = ["term"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.term


class Paper(models.Model):
    class MetadataSource(models.TextChoices):
        ARXIV = "arxiv", "arXiv"
        HF = "hf", "Hugging Face"

    class CodeStatus(models.TextChoices):
        NONE = "none", "No code"
        # The text promises code, or the repository named is empty, a placeholder or not
        # visible yet (404).
        ANNOUNCED = "announced", "Announced, not yet released"
        RELEASED = "released", "Released"

    arxiv_id = models.CharField(max_length=32, primary_key=True, help_text="Without version")
    version = models.PositiveIntegerField(default=1)
    title = models.TextField()
    abstract = models.TextField(blank=True)
    # Hugging Face's one-sentence summary, shown in digests when we have it.
    ai_summary = models.TextField(blank=True)
    authors = models.JSONField(default=list, help_text="Names, in the paper's order")
    primary_category = models.CharField(max_length=32, blank=True, db_index=True)
    categories = models.ManyToManyField(Category, related_name="papers", blank=True)
    published = models.DateTimeField()
    updated = models.DateTimeField()
    comment = models.TextField(blank=True)
    journal_ref = models.TextField(blank=True)
    doi = models.CharField(max_length=255, blank=True)
    abs_url = models.URLField(max_length=255)
    # Title, abstract, comment and authors as upstream sent them (LaTeX source); the fields
    # above hold them decoded (digest.text.decode_prose), math still as $...$.
    upstream = models.JSONField(default=dict, blank=True)
    # The project's own page: Hugging Face's projectPage, else a *.github.io address in the
    # abstract or comment.
    project_url = models.URLField(max_length=255, blank=True)
    pdf_url = models.URLField(max_length=255)
    # Which source the metadata came from: an arXiv record replaces a Hugging Face one.
    metadata_source = models.CharField(
        max_length=8, choices=MetadataSource.choices, default=MetadataSource.ARXIV
    )
    first_seen_at = models.DateTimeField(auto_now_add=True)
    changed_at = models.DateTimeField(auto_now=True)
    # Moderation: a hidden paper is never shown, searched, fed or mailed; a featured one is
    # pinned to the top of its day; a flagged one waits in the moderation queue.
    hidden = models.BooleanField(default=False)
    featured_on = models.DateField(null=True, blank=True, db_index=True)
    flagged = models.BooleanField(default=False, db_index=True)
    flag_reason = models.TextField(blank=True)
    # Where the paper's code stands (digest.services.code_status), when it came out, and
    # when it is looked for again: backing off with the paper's age, never once released.
    code_status = models.CharField(
        max_length=10, choices=CodeStatus.choices, default=CodeStatus.NONE
    )
    code_released_at = models.DateTimeField(null=True, blank=True)
    # An editor set the status: automatic checks leave it as it is.
    code_status_by_editor = models.BooleanField(default=False)
    code_checked_at = models.DateTimeField(null=True, blank=True)
    code_next_check_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-published", "-arxiv_id"]
        indexes = [
            models.Index(fields=["-published", "-arxiv_id"], name="paper_newest"),
            models.Index(fields=["primary_category", "-published"], name="paper_cat_newest"),
            models.Index(fields=["-first_seen_at"], name="paper_first_seen"),
            # The few hidden papers only: an index of every paper's flag would be read, in
            # place of the day's index on `published`, to find the visible ones.
            models.Index(fields=["hidden"], condition=models.Q(hidden=True), name="paper_hidden"),
            # The re-check run's "due now" query; papers no longer checked are not in it.
            models.Index(
                fields=["code_next_check_at"],
                condition=models.Q(code_next_check_at__isnull=False),
                name="paper_code_due",
            ),
            # The "announced, not yet released" filter, newest first.
            models.Index(
                fields=["-published"],
                condition=models.Q(code_status="announced"),
                name="paper_code_announced",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.arxiv_id}: {self.title}"


class CodeLink(models.Model):
    class Source(models.TextChoices):
        HF = "hf", "Hugging Face"
        ABSTRACT = "abstract", "Abstract"
        COMMENT = "comment", "Comment"
        ADMIN = "admin", "Admin"

    class RepoState(models.TextChoices):
        UNCHECKED = "unchecked", "Not checked"
        CONTENT = "content", "Has content"
        EMPTY = "empty", "Empty"
        PLACEHOLDER = "placeholder", "Placeholder"
        MISSING = "missing", "Not found (404)"
        BLOCKED = "blocked", "Blocked (451)"

    # Lower number wins when a paper has links from several sources.
    PRIORITY = {Source.ADMIN: 0, Source.HF: 1, Source.ABSTRACT: 2, Source.COMMENT: 3}

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="code_links")
    url = models.URLField(max_length=255, help_text="Canonical repository URL")
    host = models.CharField(max_length=64)
    owner = models.CharField(max_length=255, blank=True)
    name = models.CharField(max_length=255)
    source = models.CharField(max_length=8, choices=Source.choices)
    stars = models.PositiveIntegerField(null=True, blank=True)
    stars_checked_at = models.DateTimeField(null=True, blank=True)
    # What the forge's API said of the repository, when a code check last asked it.
    repo_state = models.CharField(
        max_length=12, choices=RepoState.choices, default=RepoState.UNCHECKED
    )
    repo_size_kb = models.PositiveIntegerField(null=True, blank=True)
    default_branch = models.CharField(max_length=255, blank=True)
    repo_problem = models.TextField(blank=True, help_text="The forge's answer when it refused")
    repo_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set on admin corrections: who changed the link and why.
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    change_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["paper", "id"]
        constraints = [
            # One row per repository per paper; `source` is the best source that named it, and
            # `url` is in its spelling. Forges ignore case in names (GitHub's Foo/Bar is
            # foo/bar), so the URL is unique lower-cased.
            models.UniqueConstraint(models.F("paper"), Lower("url"), name="codelink_lower_unique")
        ]
        indexes = [models.Index(fields=["host", "owner", "name"], name="codelink_repo")]

    def __str__(self) -> str:
        return self.url

    @classmethod
    def repo_for(cls, url: str) -> RepoRef | None:
        """The repository `url` names, if it fits a code link: no forge allows names this long
        (GitHub: 39 + 100 characters), and storing one would abort a batch on the column."""
        repo = parse_repo_url(url)
        if repo is None or len(repo.url) > cls._meta.get_field("url").max_length:
            return None
        return repo


class StarSnapshot(models.Model):
    """Stars of a repository as we read them, so growth is measured between our own readings."""

    code_link = models.ForeignKey(CodeLink, on_delete=models.CASCADE, related_name="snapshots")
    stars = models.PositiveIntegerField()
    taken_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["code_link", "taken_at"]
        indexes = [models.Index(fields=["code_link", "-taken_at"], name="snapshot_latest")]

    def __str__(self) -> str:
        return f"{self.stars} stars at {self.taken_at:%Y-%m-%d %H:%M}"


class TrendingSignal(models.Model):
    """What one source said about a paper on one day (Hugging Face Daily Papers for now)."""

    class Source(models.TextChoices):
        HF = "hf", "Hugging Face"

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="signals")
    source = models.CharField(max_length=8, choices=Source.choices)
    featured_on = models.DateField(help_text="The day the source featured the paper")
    upvotes = models.PositiveIntegerField(default=0)
    num_comments = models.PositiveIntegerField(default=0)
    recorded_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-featured_on", "-upvotes"]
        constraints = [
            models.UniqueConstraint(
                fields=["paper", "source", "featured_on"], name="signal_unique_per_day"
            )
        ]
        indexes = [models.Index(fields=["-featured_on", "-upvotes"], name="signal_by_day")]

    def __str__(self) -> str:
        return f"{self.paper_id} on {self.source} {self.featured_on}: {self.upvotes} upvotes"


class IngestionRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "OK"
        PARTIAL = "partial", "Partial: kept what preceded a problem"
        FAILED = "failed", "Failed"

    source = models.CharField(max_length=16)
    origin = models.TextField(help_text="URL fetched or file replayed")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    new = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["source", "-started_at"], name="run_latest")]

    def __str__(self) -> str:
        return f"{self.source} run {self.pk} ({self.status})"


class PaperEmbedding(models.Model):
    """A paper's unit-normalised float32 vector under one model (raw bytes: works on SQLite and
    PostgreSQL alike; search loads them into one contiguous matrix)."""

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="embeddings")
    model_name = models.CharField(max_length=255)
    dim = models.PositiveSmallIntegerField()
    vector = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["paper", "model_name"], name="embedding_unique")
        ]

    def __str__(self) -> str:
        return f"{self.paper_id} under {self.model_name}"


class EmbeddingVersion(models.Model):
    """Bumped in the transaction that stores a model's vectors: what every process compares
    with its on-disk vector index (one indexed row, not an aggregate over the vectors). The
    epoch is new whenever the row is (a restored or recreated database), so an index built
    from another database is never taken for current."""

    model_name = models.CharField(max_length=255, unique=True)
    epoch = models.UUIDField(default=uuid.uuid4)
    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.model_name} at version {self.version}"


class TrendingScore(models.Model):
    """The latest trending score of a paper, with the parts that add up to it."""

    paper = models.OneToOneField(
        Paper, on_delete=models.CASCADE, primary_key=True, related_name="trending"
    )
    score = models.FloatField(db_index=True)
    parts = models.JSONField(default=dict)
    why = models.TextField(blank=True, help_text="The explanation shown on pages and in emails")
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.paper_id}: {self.score:.3f}"


class Subscriber(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for confirmation"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"

    class Unsubscribed(models.TextChoices):
        """Why a reader no longer gets mail: their own wish, or what the relay reported."""

        READER = "reader", "By the reader (a link or the page)"
        MAIL = "mail", "By the reader, by email (List-Unsubscribe mailto:)"
        HARD_BOUNCE = "hard-bounce", "Hard bounce reported by the relay"
        COMPLAINT = "complaint", "Spam complaint reported by the relay"
        RELAY = "relay", "Suppressed by the relay"

    email = models.EmailField(unique=True, help_text="Stored lower-cased")
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    # Set with status "unsubscribed": who or what stopped the mail, and the relay's words.
    unsubscribed_because = models.CharField(max_length=16, choices=Unsubscribed.choices, blank=True)
    unsubscribed_detail = models.TextField(blank=True)
    interests = models.TextField(blank=True, help_text="Free-text topics")
    categories = models.JSONField(default=list, blank=True, help_text="arXiv categories")
    delivery_hour = models.PositiveSmallIntegerField(default=8)
    # None: a digest every day; 0 (Monday) to 6: one a week, on that day, of the week's best.
    digest_weekday = models.PositiveSmallIntegerField(null=True, blank=True)
    # A new address the reader asked for, taking effect once confirmed from that address.
    pending_email = models.EmailField(blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    digest_size = models.PositiveSmallIntegerField(default=10)
    # Authors whose papers always make this reader's personal section, as written.
    followed_authors = models.JSONField(default=list, blank=True)
    # Only papers in `categories` (and by followed authors) for the personal section.
    categories_only = models.BooleanField(default=False)
    # Papers in the "Trending today" section, after the personal ones.
    trending_count = models.PositiveSmallIntegerField(default=3)
    # The dial from "only my interests" (0) to "mostly what is trending" (1); None: the
    # site's default (RANK_TRENDING_WEIGHT).
    trending_weight = models.FloatField(null=True, blank=True)
    # Send the trending section on a day when nothing matches the reader's interests.
    send_when_empty = models.BooleanField(default=False)
    # Follow-ups on papers already received: "Code is now out" and "Taking off".
    follow_code_out = models.BooleanField(default=True)
    follow_taking_off = models.BooleanField(default=True)
    # Cached vectors of the topic lines and category names (float32 bytes, one row each, in
    # `ranking.digests.facet_texts` order) and the model they were computed with.
    topic_vectors = models.BinaryField(null=True, blank=True)
    interest_model = models.CharField(max_length=255, blank=True)
    # Random secret for the personal feed; replacing it revokes old feed URLs.
    feed_token = models.CharField(max_length=64, unique=True, null=True, blank=True)
    hard_bounces = models.PositiveSmallIntegerField(default=0)
    # Signed into every link we mail; raising it signs out all links made before.
    link_generation = models.PositiveIntegerField(default=0)
    # When the next digest goes out, as a UTC instant (digest.services.send_times): the
    # scheduler finds due readers by it, so a change of zone can neither skip nor double one.
    next_digest_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["email"]
        indexes = [
            # Only active readers are ever due: the scheduler's every-few-minutes query.
            models.Index(
                fields=["next_digest_at"],
                condition=models.Q(status="active"),
                name="subscriber_due",
            )
        ]

    def __str__(self) -> str:
        return self.email


class PaperFeedback(models.Model):
    """A reader's "more like this" / "less like this" on a paper; moves their interests."""

    class Kind(models.TextChoices):
        LIKE = "like", "More like this"
        DISLIKE = "dislike", "Less like this"

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="feedback")
    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="feedback")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "paper"], name="feedback_unique")
        ]

    def __str__(self) -> str:
        return f"{self.subscriber_id} {self.kind}s {self.paper_id}"


class Delivery(models.Model):
    """At most one digest per subscriber per local date: the unique constraint is the lock."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        # The SMTP server may have accepted it before we recorded so: review, never resend.
        AMBIGUOUS = "ambiguous", "Needs review"

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="deliveries")
    local_date = models.DateField()
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.PENDING, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    subject = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-local_date", "subscriber"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["subscriber", "local_date"], name="one_digest_per_local_day"
            )
        ]
        # A day's deliveries by state: sending a day by hand, its archive page. The unique
        # index above leads with the subscriber and cannot serve them.
        indexes = [models.Index(fields=["local_date", "state"], name="delivery_day_state")]

    def __str__(self) -> str:
        return f"{self.subscriber_id} {self.local_date} ({self.state})"


class DeliveryItem(models.Model):
    """A paper in a delivered digest, with why it was picked; also "already sent" history."""

    class Section(models.TextChoices):
        FOR_YOU = "for_you", "For you"
        TRENDING = "trending", "Trending today"
        # Follow-ups on papers the reader received before, at most once per paper each.
        CODE_OUT = "code_out", "Code is now out"
        TAKING_OFF = "taking_off", "Taking off"

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="items")
    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField()
    section = models.CharField(max_length=16, choices=Section.choices, default=Section.FOR_YOU)
    score = models.FloatField()
    why = models.TextField()

    class Meta:
        ordering = ["delivery", "position"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "paper"], name="delivery_item_unique")
        ]
        indexes = [models.Index(fields=["paper"], name="delivery_item_paper")]

    def __str__(self) -> str:
        return f"{self.delivery_id}#{self.position}: {self.paper_id}"


class AuditLog(models.Model):
    """Every moderation action: who, when, what, before and after. Never edited."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.target_type}"


class ProblemReport(models.Model):
    """A reader's "report a problem" on a paper page."""

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="reports")
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    resolved = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"report on {self.paper_id}"
