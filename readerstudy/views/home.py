"""The landing page: sends each user to the part of the platform their role uses."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ..roles import user_roles


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "readerstudy/home.html", {"roles": user_roles(request.user)})
