"""Export URLs: the page (ask, watch, list), each export's progress and download, the recorder's public key."""

from django.urls import path

from exports import views

urlpatterns = [
    path("", views.exports_page, name="exports"),
    path("public-key.pem", views.public_key, name="export-public-key"),
    path("<int:export_id>.json", views.export_status, name="export-status"),
    path("<int:export_id>/download", views.download, name="export-download"),
]
