"""Every camera gets a uid that names its footage (never its slug, which a later camera may take)."""

import uuid

from django.db import migrations, models


def give_uids(apps, schema_editor):
    Camera = apps.get_model("cameras", "Camera")
    for camera in Camera.objects.all():
        camera.uid = uuid.uuid4()
        camera.save(update_fields=["uid"])


class Migration(migrations.Migration):
    dependencies = [
        ("cameras", "0005_camera_groups"),
    ]

    operations = [
        migrations.AddField(
            model_name="camera",
            name="uid",
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.RunPython(give_uids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="camera",
            name="uid",
            field=models.UUIDField(
                default=uuid.uuid4, editable=False, unique=True, help_text="Names this camera's footage."
            ),
        ),
    ]
