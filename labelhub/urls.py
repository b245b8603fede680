from django.contrib import admin
from django.urls import include, path

from annotations.views import (
    dashboard,
    exports,
    home,
    instructions,
    invites,
    labeling,
    project_admin,
    project_settings,
    prompts,
    quality,
    team,
)
from labelhub import health

# Unmatched URLs under /api/ answer JSON like the API's own errors (annotations/api/errors.py).
handler404 = "annotations.api.errors.not_found"
handler500 = "annotations.api.errors.server_error"

urlpatterns = [
    path("healthz", health.Healthz.as_view(), name="healthz"),
    path("readyz", health.Readyz.as_view(), name="readyz"),
    path("metrics", health.Metrics.as_view(), name="metrics"),
    path("", home.home, name="home"),
    path("projects/new/", project_settings.new_project, name="project-new"),  # before the slug pattern
    path("projects/<slug:slug>/", dashboard.dashboard, name="project-admin"),
    path("projects/<slug:slug>/settings/", project_settings.project_settings, name="project-settings"),
    path("projects/<slug:slug>/prompt-sets/", project_admin.upload_prompt_set, name="project-upload"),
    path("projects/<slug:slug>/generate/", project_admin.generate, name="project-generate"),
    path("projects/<slug:slug>/label/", labeling.label_page, name="label"),
    path("projects/<slug:slug>/exports/", exports.exports_page, name="project-exports"),
    path("projects/<slug:slug>/exports/<int:export_id>/delete/", exports.delete_export_view, name="export-delete"),
    path("projects/<slug:slug>/quality/", quality.quality_page, name="project-quality"),
    path("projects/<slug:slug>/quality/prompts/<int:prompt_id>/", prompts.old_prompt_rankings, name="prompt-rankings"),
    path("projects/<slug:slug>/prompts/", prompts.prompt_list, name="project-prompts"),
    path("projects/<slug:slug>/prompts/<int:prompt_id>/", prompts.prompt_detail, name="project-prompt"),
    path("projects/<slug:slug>/quality/canaries/", quality.canary_settings, name="canary-settings"),
    path("projects/<slug:slug>/instructions/accept/", labeling.accept_instructions, name="accept-instructions"),
    path("projects/<slug:slug>/instructions/", instructions.instructions_page, name="project-instructions"),
    path("projects/<slug:slug>/team/", team.team_page, name="project-team"),
    path("projects/<slug:slug>/team/members/", team.add_member_view, name="team-add-member"),
    path("projects/<slug:slug>/team/remove/", team.remove_member_view, name="team-remove-member"),
    path("projects/<slug:slug>/team/role/", team.change_role_view, name="team-change-role"),
    path("projects/<slug:slug>/team/invites/", team.create_invite_view, name="team-create-invite"),
    path("invite/<str:token>/", invites.invite_page, name="invite"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("annotations.api.urls")),
]
