from django.urls import path

from audit import views

urlpatterns = [
    path("", views.audit_page, name="audit"),
    path("export.csv", views.audit_csv, name="audit_csv"),
]
