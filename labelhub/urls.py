from django.contrib import admin
from django.urls import include, path

from annotations.views import home, labeling

urlpatterns = [
    path("", home.home, name="home"),
    path("projects/<slug:slug>/label/", labeling.label_page, name="label"),
    path("projects/<slug:slug>/instructions/accept/", labeling.accept_instructions, name="accept-instructions"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("annotations.api.urls")),
]
