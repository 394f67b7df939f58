"""Segments name their files by store key, and footage can outlive its camera as an archive.

Upgrading keeps every recording where it is: a row's old relative path *is* its key (the local store
resolves keys under RECORDINGS_DIR), so nothing moves and every segment stays playable. New segments
are filed under their camera's uid (cameras 0006). Files of the old `<slug>/` folders that have no
row are never attached to a camera by their folder name: the reconcile files them as "found without
a camera" (recordings.reconcile), so a deleted camera's leftovers are never handed to a new one.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cameras", "0001_initial"),
        ("recordings", "0001_segments"),
    ]

    operations = [
        migrations.CreateModel(
            name="Archive",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "name",
                    models.CharField(
                        help_text="The deleted camera's name, or the folder it was found in.", max_length=200
                    ),
                ),
                (
                    "owner",
                    models.CharField(
                        help_text="The store folder of this footage (the deleted camera's uid): files found there belong here.",
                        max_length=64,
                        unique=True,
                    ),
                ),
                (
                    "origin",
                    models.CharField(
                        choices=[
                            ("deleted_camera", "Kept when its camera was deleted"),
                            ("found", "Found in the store without a camera"),
                        ],
                        max_length=20,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={"ordering": ["-created_at"]},
        ),
        migrations.RenameField(model_name="segment", old_name="path", new_name="key"),
        migrations.AlterField(
            model_name="segment",
            name="key",
            field=models.CharField(
                help_text="The store's name for the file (recordings.store).", max_length=500, unique=True
            ),
        ),
        migrations.AlterField(
            model_name="segment",
            name="camera",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="segments",
                to="cameras.camera",
            ),
        ),
        migrations.AddField(
            model_name="segment",
            name="archive",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="segments",
                to="recordings.archive",
            ),
        ),
    ]
