"""The camera form shared by the admin and the import command, so both validate alike."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Field

from cameras.models import Camera

# Motion detection and events (events/): one list for the form, the import format and the admin's fieldset.
MOTION_FIELDS = [
    "motion",
    "motion_sensitivity",
    "motion_min_size",
    "motion_zones",
    "motion_masks",
    "event_gap_seconds",
    "event_retention_days",
]

# Object detection (detection/): what the detector reports as events for this camera.
OBJECT_FIELDS = ["object_labels", "object_min_score", "object_min_area", "object_zones"]

CAMERA_FIELDS = [
    "name",
    "slug",
    "kind",
    "source",
    "sub_source",
    "username",
    "password",
    "enabled",
    "max_fps",
    "max_width",
    "jpeg_quality",
    "rtsp_transport",
    "position",
    "record",
    "audio",
    "retention_days",
    *MOTION_FIELDS,
    *OBJECT_FIELDS,
]


class CameraForm(forms.ModelForm):
    """The password is write-only: never rendered back; empty keeps the stored one."""

    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: leave empty to keep the stored password.",
    )
    clear_password = forms.BooleanField(required=False, help_text="Remove the stored password.")

    class Meta:
        model = Camera
        fields = CAMERA_FIELDS

    # Fields added after the first release: a form (or an import file, or a script) that leaves them
    # out keeps the camera's value, or the default for a new camera.
    # (A missing checkbox reads as "off" in a form: `motion` is left out; imports fill it from the camera.)
    LATER_FIELDS = (
        "record",
        "retention_days",
        *(name for name in MOTION_FIELDS if name != "motion"),
        *OBJECT_FIELDS,
    )

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        for name in self.LATER_FIELDS:
            if name in self.fields:  # a form may show only some fields (the admin's fieldsets)
                self.fields[name].required = False

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in self.LATER_FIELDS:
            if data.get(name) in (None, ""):
                field = Camera._meta.get_field(name)
                default = field.get_default() if isinstance(field, Field) else None
                data[name] = getattr(self.instance, name) if self.instance.pk else default
        if data.get("clear_password"):
            data["password"] = ""
        elif not data.get("password") and self.instance.pk:
            data["password"] = self.instance.password
        return data
