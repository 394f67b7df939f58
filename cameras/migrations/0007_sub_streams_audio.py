"""A camera's sub stream (its low-resolution RTSP URL: the grid's pictures and motion come from it), and
its audio switch (record the camera's sound, on by default)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cameras", "0006_camera_uid"),
    ]

    operations = [
        migrations.AddField(
            model_name="camera",
            name="audio",
            field=models.BooleanField(
                default=True,
                help_text="Record the camera's sound with its video (AAC as it comes; G.711 and others converted "
                "to AAC).",
            ),
        ),
        migrations.AddField(
            model_name="camera",
            name="sub_source",
            field=models.CharField(
                blank=True,
                help_text="RTSP cameras: the low-resolution sub stream's URL (without credentials), for the grid "
                "and motion detection; the main stream is recorded. Empty: the main stream does everything.",
                max_length=500,
            ),
        ),
    ]
