"""Camera passwords encrypted at rest (encryption/fields.py).

The column becomes text (a token is longer than the password), then every stored password is
encrypted in place. Both directions work on the raw column, so they do not depend on how the
field class reads and writes; going back decrypts them again.
"""

from django.db import migrations

import encryption.fields


def _rewrite(schema_editor, change) -> None:  # type: ignore[no-untyped-def]
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT id, password FROM cameras_camera WHERE password <> ''")
        for pk, stored in cursor.fetchall():
            cursor.execute("UPDATE cameras_camera SET password = %s WHERE id = %s", [change(stored), pk])


def encrypt_passwords(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    _rewrite(schema_editor, lambda stored: encryption.fields.rotated(stored))


def decrypt_passwords(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    _rewrite(schema_editor, encryption.fields.decrypt)


class Migration(migrations.Migration):
    dependencies = [
        ("cameras", "0002_recording_fields"),
    ]

    operations = [
        migrations.AlterField(
            model_name="camera",
            name="password",
            field=encryption.fields.EncryptedPasswordField(blank=True, max_length=150),
        ),
        migrations.RunPython(encrypt_passwords, decrypt_passwords),
    ]
