"""Each existing reader's next send instant: today's hour in their zone, or tomorrow's for a
reader who already has today's digest (so the switch to send instants sends nobody a second
one today)."""

from datetime import timedelta

from django.db import migrations
from django.utils import timezone

from digest.services.send_times import local_date, send_at


def fill(apps, schema_editor):
    Subscriber = apps.get_model("digest", "Subscriber")
    Delivery = apps.get_model("digest", "Delivery")
    now = timezone.now()
    readers = list(Subscriber.objects.filter(next_digest_at=None).order_by("pk"))
    for reader in readers:
        day = local_date(instant=now, zone_name=reader.timezone)
        if Delivery.objects.filter(subscriber_id=reader.pk, local_date=day).exists():
            day += timedelta(days=1)
        reader.next_digest_at = send_at(day=day, hour=reader.delivery_hour, zone_name=reader.timezone)
    Subscriber.objects.bulk_update(readers, ["next_digest_at"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [("digest", "0006_subscriber_next_digest_at")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
