"""Re-authentication before the actions that take data out or change the keys.

``@recent_auth_required`` on a view: unless the user proved who they are (log-in or the confirm
page) within REAUTH_MAX_AGE in this session, they are sent to the confirm page and then back.
A GET comes back to the same URL; a POST comes back to the same URL as a GET, i.e. its form page
(the forms these views use post to their own page), since a browser cannot be sent back to a POST.
"""
from __future__ import annotations

import functools

from flask import current_app, redirect, request, url_for

from .models import utcnow
from .service import current_session


def recently_authenticated() -> bool:
    row = current_session()
    if row is None or row.authenticated_at is None:
        return False
    age = utcnow() - row.authenticated_at
    return age <= current_app.config["REAUTH_MAX_AGE"] and age.total_seconds() >= -60


def here() -> str:
    """This request's same-site path with its query string (the confirm page's way back)."""
    query = request.query_string.decode("latin-1")
    return request.path + ("?" + query if query else "")


def recent_auth_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not recently_authenticated():
            return redirect(url_for("auth.confirm", next=here()))
        return view(*args, **kwargs)
    wrapper.requires_recent_auth = True
    return wrapper
