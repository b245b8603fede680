"""`/invite/{token}/`: the public page an invite link opens. A newcomer chooses a username and a
password and joins with the invite's role; a signed-in user accepts with their own account. A link
that cannot be used (already used, expired, unknown or its project removed) gets a page saying so."""

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model, login, password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from ..team import InviteInvalid, TeamError, accept_invite, invite_for, join_with_invite
from .team import PlainLabels


class JoinForm(PlainLabels, forms.Form):
    username = forms.CharField(label="Username", max_length=150, validators=[UnicodeUsernameValidator()],
                               help_text="Letters, digits and @/./+/-/_ only.")
    password1 = forms.CharField(label="Password", strip=False, widget=forms.PasswordInput(
        attrs={"autocomplete": "new-password"}), help_text=password_validation.password_validators_help_text_html())
    password2 = forms.CharField(label="Password (again)", strip=False, widget=forms.PasswordInput(
        attrs={"autocomplete": "new-password"}))

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(f"The username “{username}” is taken; choose another.")
        return username

    def clean(self) -> dict:
        data = super().clean()
        password1, password2 = data.get("password1"), data.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords differ.")
        elif password1:
            candidate = get_user_model()(username=data.get("username", ""))
            try:
                password_validation.validate_password(password1, candidate)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


def _invalid(request: HttpRequest, exc: InviteInvalid) -> HttpResponse:
    status = 404 if exc.reason == "unknown" else 410
    return render(request, "annotations/invite_invalid.html", {"message": exc.message, "reason": exc.reason},
                  status=status)


def _joined(request: HttpRequest, invite) -> HttpResponse:
    messages.success(request, f"You joined {invite.project.name} as {invite.role}.")
    return redirect("home")


@never_cache
def invite_page(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invite = invite_for(token)
    except InviteInvalid as exc:
        return _invalid(request, exc)
    form = JoinForm()
    status = 200
    if request.method == "POST":
        try:
            if request.user.is_authenticated:
                return _joined(request, accept_invite(token, request.user))
            form = JoinForm(request.POST)
            if form.is_valid():
                try:
                    user, invite = join_with_invite(token, form.cleaned_data["username"],
                                                    form.cleaned_data["password1"])
                except TeamError as exc:
                    form.add_error(exc.field, exc.message)
                else:
                    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                    return _joined(request, invite)
            status = 400
        except InviteInvalid as exc:  # used or expired between the page and the click
            return _invalid(request, exc)
    return render(request, "annotations/invite.html", {"invite": invite, "form": form}, status=status)
