"""The camera form shared by the admin and the import command, so both validate alike."""

from __future__ import annotations

from django import forms

from cameras.models import Camera

CAMERA_FIELDS = [
    "name",
    "slug",
    "kind",
    "source",
    "username",
    "password",
    "enabled",
    "max_fps",
    "max_width",
    "jpeg_quality",
    "rtsp_transport",
    "position",
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

    def clean(self) -> dict:
        data = super().clean()
        if data.get("clear_password"):
            data["password"] = ""
        elif not data.get("password") and self.instance.pk:
            data["password"] = self.instance.password
        return data
