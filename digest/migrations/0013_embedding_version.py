import uuid

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("digest", "0012_operations")]

    operations = [
        migrations.CreateModel(
            name="EmbeddingVersion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("model_name", models.CharField(max_length=255, unique=True)),
                ("epoch", models.UUIDField(default=uuid.uuid4)),
                ("version", models.BigIntegerField(default=0)),
            ],
        ),
    ]
