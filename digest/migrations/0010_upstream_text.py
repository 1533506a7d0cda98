"""Paper.upstream keeps the LaTeX source of title, abstract, comment and authors; the stored
fields are decoded once (accents and escapes to Unicode, math kept as $...$). Paper.project_url
is the project's page, filled here from the texts."""

from django.db import migrations, models

from digest.codelinks import project_page_url
from digest.text import decode_prose, plain_text

FIELDS = ("title", "abstract", "comment")
UPDATED = [*FIELDS, "authors", "ai_summary", "upstream", "project_url"]


def decode_stored(apps, schema_editor) -> None:
    Paper = apps.get_model("digest", "Paper")
    papers = Paper.objects.filter(upstream={}).only(*FIELDS, "authors", "ai_summary")
    changed = []
    for paper in papers.iterator(chunk_size=1000):
        paper.upstream = {name: getattr(paper, name) for name in FIELDS if getattr(paper, name)}
        paper.upstream["authors"] = list(paper.authors)
        for name in FIELDS:
            setattr(paper, name, decode_prose(getattr(paper, name)))
        paper.authors = [plain_text(author) for author in paper.authors]
        paper.ai_summary = decode_prose(paper.ai_summary)
        paper.project_url = project_page_url(f"{paper.abstract} {paper.comment}") or ""
        changed.append(paper)
        if len(changed) == 1000:
            Paper.objects.bulk_update(changed, UPDATED)
            changed = []
    Paper.objects.bulk_update(changed, UPDATED)


class Migration(migrations.Migration):
    dependencies = [("digest", "0009_reader_facets")]

    operations = [
        migrations.AddField(
            model_name="paper",
            name="upstream",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="paper",
            name="project_url",
            field=models.URLField(blank=True, max_length=255),
        ),
        migrations.RunPython(decode_stored, migrations.RunPython.noop),
    ]
