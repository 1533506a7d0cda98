"""Code status of papers (none / announced / released) with its re-check schedule, what the
forge said of each repository, the readers' follow-up toggles and the follow-up sections.

The data step gives existing papers their status: released where a code link exists (since
the first link was stored), else announced where the abstract or comment promises code; the
papers younger than six months and not released are due for a first re-check at once."""

from datetime import timedelta

from django.db import migrations, models
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from digest.code_announced import code_announcement

BATCH = 1000


def fill_code_status(apps, schema_editor):
    Paper = apps.get_model("digest", "Paper")
    CodeLink = apps.get_model("digest", "CodeLink")
    now = timezone.now()
    first_link = CodeLink.objects.filter(paper=OuterRef("pk")).order_by("created_at")
    Paper.objects.filter(code_links__isnull=False).update(
        code_status="released", code_released_at=Subquery(first_link.values("created_at")[:1])
    )
    rest = Paper.objects.filter(code_links__isnull=True).only("pk", "abstract", "comment", "published")
    changed = []
    for paper in rest.iterator(chunk_size=BATCH):
        if code_announcement(f"{paper.abstract}\n{paper.comment}"):
            paper.code_status = "announced"
        if now - paper.published < timedelta(days=183):
            paper.code_next_check_at = now
        changed.append(paper)
        if len(changed) >= BATCH:
            Paper.objects.bulk_update(changed, ["code_status", "code_next_check_at"])
            changed = []
    Paper.objects.bulk_update(changed, ["code_status", "code_next_check_at"])


class Migration(migrations.Migration):

    dependencies = [
        ('digest', '0010_upstream_text'),
    ]

    operations = [
        migrations.AddField(
            model_name='codelink',
            name='default_branch',
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddField(
            model_name='codelink',
            name='repo_checked_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='codelink',
            name='repo_problem',
            field=models.TextField(blank=True, help_text="The forge's answer when it refused"),
        ),
        migrations.AddField(
            model_name='codelink',
            name='repo_size_kb',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='codelink',
            name='repo_state',
            field=models.CharField(choices=[('unchecked', 'Not checked'), ('content', 'Has content'), ('empty', 'Empty'), ('placeholder', 'Placeholder'), ('missing', 'Not found (404)'), ('blocked', 'Blocked (451)')], default='unchecked', max_length=12),
        ),
        migrations.AddField(
            model_name='paper',
            name='code_checked_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='paper',
            name='code_next_check_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='paper',
            name='code_released_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='paper',
            name='code_status',
            field=models.CharField(choices=[('none', 'No code'), ('announced', 'Announced, not yet released'), ('released', 'Released')], default='none', max_length=10),
        ),
        migrations.AddField(
            model_name='paper',
            name='code_status_by_editor',
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name='subscriber',
            name='follow_code_out',
            field=models.BooleanField(default=True),
        ),
        migrations.AddField(
            model_name='subscriber',
            name='follow_taking_off',
            field=models.BooleanField(default=True),
        ),
        migrations.AlterField(
            model_name='deliveryitem',
            name='section',
            field=models.CharField(choices=[('for_you', 'For you'), ('trending', 'Trending today'), ('code_out', 'Code is now out'), ('taking_off', 'Taking off')], default='for_you', max_length=16),
        ),
        migrations.AddIndex(
            model_name='paper',
            index=models.Index(condition=models.Q(('code_next_check_at__isnull', False)), fields=['code_next_check_at'], name='paper_code_due'),
        ),
        migrations.AddIndex(
            model_name='paper',
            index=models.Index(condition=models.Q(('code_status', 'announced')), fields=['-published'], name='paper_code_announced'),
        ),
        migrations.RunPython(fill_code_status, migrations.RunPython.noop),
    ]
