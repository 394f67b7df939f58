"""Segments say where their bytes are (the local folder or the bucket) and carry the SHA-256 of their file.

Existing rows are local, with no checksum: the mover (recordings.tier) computes it from the file as it
is when it first moves such a segment, the best there is for footage written before checksums.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("recordings", "0002_keys_and_archives"),
    ]

    operations = [
        migrations.AddField(
            model_name="segment",
            name="sha256",
            field=models.CharField(
                blank=True,
                default="",
                help_text="SHA-256 of the file (hex), computed when it was written.",
                max_length=64,
            ),
        ),
        migrations.AddField(
            model_name="segment",
            name="location",
            field=models.CharField(
                choices=[("local", "Local disk"), ("bucket", "Bucket")],
                default="local",
                help_text="Where its bytes are: moved to the bucket once verified there (recordings.tier).",
                max_length=10,
            ),
        ),
        migrations.AddIndex(
            model_name="segment",
            index=models.Index(fields=["location", "end"], name="recordings__locatio_c725ac_idx"),
        ),
    ]
