from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import auth, exports, generation, instructions, labeling, leaderboard, projects, prompt_sets, quality, team

urlpatterns = [
    path("auth/token/", auth.obtain_token, name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("projects/", projects.ProjectList.as_view(), name="api-projects"),
    path("projects/<slug:slug>/", projects.ProjectDetail.as_view(), name="api-project"),
    path("projects/<slug:slug>/prompt-sets/", prompt_sets.PromptSetCreate.as_view(), name="api-prompt-sets"),
    path("projects/<slug:slug>/generation/", generation.GenerationView.as_view(), name="api-generation"),
    path("projects/<slug:slug>/tasks/next/", labeling.NextTask.as_view(), name="api-next-task"),
    path("projects/<slug:slug>/my-rankings/", labeling.MyRankings.as_view(), name="api-my-rankings"),
    path("assignments/<int:assignment_id>/ranking/", labeling.AssignmentRanking.as_view(), name="api-ranking"),
    path("assignments/<int:assignment_id>/skip/", labeling.SkipAssignment.as_view(), name="api-skip"),
    path("projects/<slug:slug>/exports/", exports.ProjectExports.as_view(), name="api-exports"),
    path("projects/<slug:slug>/agreement/", quality.ProjectAgreement.as_view(), name="api-agreement"),
    path("projects/<slug:slug>/leaderboard/", leaderboard.ProjectLeaderboard.as_view(), name="api-leaderboard"),
    path("projects/<slug:slug>/instructions/", instructions.ProjectInstructions.as_view(), name="api-instructions"),
    path("projects/<slug:slug>/instructions/preview/", instructions.InstructionsPreview.as_view(),
         name="api-instructions-preview"),
    path("projects/<slug:slug>/members/", team.ProjectMembers.as_view(), name="api-members"),
    path("projects/<slug:slug>/members/<str:username>/", team.ProjectMember.as_view(), name="api-member"),
    path("projects/<slug:slug>/invites/", team.ProjectInvites.as_view(), name="api-invites"),
    path("exports/<int:export_id>/", exports.ExportDetail.as_view(), name="api-export"),
    path("exports/<int:export_id>/download/", exports.ExportDownload.as_view(), name="api-export-download"),
]
