from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("digest", "0008_paper_hidden_partial_index")]

    operations = [
        migrations.AddField(
            model_name="paper", name="ai_summary", field=models.TextField(blank=True)
        ),
        # The one averaged interest vector is gone: each topic line has its own vector now,
        # so the old cache is dropped and recomputed on the next ranking.
        migrations.RemoveField(model_name="subscriber", name="interest_vector"),
        migrations.AddField(
            model_name="subscriber",
            name="topic_vectors",
            field=models.BinaryField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="subscriber",
            name="followed_authors",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="subscriber",
            name="categories_only",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="subscriber",
            name="trending_count",
            field=models.PositiveSmallIntegerField(default=3),
        ),
        migrations.AddField(
            model_name="subscriber",
            name="trending_weight",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="subscriber",
            name="send_when_empty",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="deliveryitem",
            name="section",
            field=models.CharField(
                choices=[("for_you", "For you"), ("trending", "Trending today")],
                default="for_you",
                max_length=8,
            ),
        ),
    ]
