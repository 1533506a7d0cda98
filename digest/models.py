"""The data model: papers, their code links, trending signals and the ingestion log."""

from django.db import models


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

    arxiv_id = models.CharField(max_length=32, primary_key=True, help_text="Without version")
    version = models.PositiveIntegerField(default=1)
    title = models.TextField()
    abstract = models.TextField(blank=True)
    authors = models.JSONField(default=list, help_text="Names, in the paper's order")
    primary_category = models.CharField(max_length=32, blank=True, db_index=True)
    categories = models.ManyToManyField(Category, related_name="papers", blank=True)
    published = models.DateTimeField()
    updated = models.DateTimeField()
    comment = models.TextField(blank=True)
    journal_ref = models.TextField(blank=True)
    doi = models.CharField(max_length=255, blank=True)
    abs_url = models.URLField(max_length=255)
    pdf_url = models.URLField(max_length=255)
    # Which source the metadata came from: an arXiv record replaces a Hugging Face one.
    metadata_source = models.CharField(
        max_length=8, choices=MetadataSource.choices, default=MetadataSource.ARXIV
    )
    first_seen_at = models.DateTimeField(auto_now_add=True)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-published", "-arxiv_id"]
        indexes = [
            models.Index(fields=["-published", "-arxiv_id"], name="paper_newest"),
            models.Index(fields=["primary_category", "-published"], name="paper_cat_newest"),
            models.Index(fields=["-first_seen_at"], name="paper_first_seen"),
        ]

    def __str__(self) -> str:
        return f"{self.arxiv_id}: {self.title}"


class CodeLink(models.Model):
    class Source(models.TextChoices):
        HF = "hf", "Hugging Face"
        ABSTRACT = "abstract", "Abstract"
        COMMENT = "comment", "Comment"
        ADMIN = "admin", "Admin"

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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["paper", "id"]
        constraints = [
            # One row per repository per paper; `source` is the best source that named it.
            models.UniqueConstraint(fields=["paper", "url"], name="codelink_unique")
        ]
        indexes = [models.Index(fields=["host", "owner", "name"], name="codelink_repo")]

    def __str__(self) -> str:
        return self.url


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
