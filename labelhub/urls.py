from django.contrib import admin
from django.urls import include, path

from annotations.views import home

urlpatterns = [
    path("", home.home, name="home"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("annotations.api.urls")),
]
