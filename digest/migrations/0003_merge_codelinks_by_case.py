"""Code links of one paper whose URLs differ only in case name one repository (forges ignore
case in names): keep the best source's row, give it the others' star snapshots and the
latest reading, delete the others. Before 0004 makes the lower-cased URL unique."""

from django.db import migrations
from django.db.models import Count
from django.db.models.functions import Lower

# CodeLink.PRIORITY as of this migration: lower wins.
PRIORITY = {"admin": 0, "hf": 1, "abstract": 2, "comment": 3}


def merge_case_duplicates(apps, schema_editor):
    CodeLink = apps.get_model("digest", "CodeLink")
    StarSnapshot = apps.get_model("digest", "StarSnapshot")
    links = CodeLink.objects.annotate(lower_url=Lower("url"))
    duplicated = (
        links.values("paper_id", "lower_url").annotate(n=Count("id")).filter(n__gt=1).order_by()
    )
    for group in duplicated:
        same = sorted(
            links.filter(paper_id=group["paper_id"], lower_url=group["lower_url"]),
            key=lambda link: (PRIORITY[link.source], link.id),
        )
        kept, others = same[0], same[1:]
        StarSnapshot.objects.filter(code_link__in=others).update(code_link=kept)
        read = [link for link in same if link.stars_checked_at is not None]
        if read:
            latest = max(read, key=lambda link: link.stars_checked_at)
            kept.stars, kept.stars_checked_at = latest.stars, latest.stars_checked_at
            kept.save(update_fields=["stars", "stars_checked_at"])
        CodeLink.objects.filter(pk__in=[link.pk for link in others]).delete()


class Migration(migrations.Migration):
    dependencies = [("digest", "0002_service_models")]

    # Merged rows cannot be told apart again: going back keeps them merged.
    operations = [migrations.RunPython(merge_case_duplicates, migrations.RunPython.noop)]
