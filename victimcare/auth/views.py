"""Log-in, log-out, own password, and user/organisation administration."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import access, audit
from ..choices import options
from ..extensions import db, limiter
from .forms import (ORG_KIND_LABELS, ROLE_LABELS, ButtonForm, ChangePasswordForm, LoginForm,
                    OrganisationForm, ResetPasswordForm, UserForm)
from .models import Organisation, User
from .passwords import verify_password
from .service import (authenticate, create_organisation, create_user, end_session,
                      revoke_all_sessions, set_password, start_session)

auth_bp = Blueprint("auth", __name__)
admin_bp = Blueprint("admin", __name__, url_prefix="/admin")


def _login_rate_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("main.home")
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else url_for("main.home")


@auth_bp.route("/login", methods=["GET", "POST"])
@access.public
@limiter.limit(_login_rate_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    if form.validate_on_submit():
        user, reason = authenticate(form.username.data, form.password.data)
        if user is not None:
            start_session(user)
            if user.must_change_password:
                return redirect(url_for("auth.change_password"))
            return redirect(_safe_next(request.args.get("next")))
        if reason == "locked":
            form.form_errors.append(_("This account is locked after too many failed attempts. "
                                      "Try again later or ask an administrator."))
        else:
            form.form_errors.append(_("Wrong username or password."))
    return render_template("auth/login.html", form=form)


@auth_bp.route("/logout", methods=["POST"])
def logout():
    if ButtonForm().validate_on_submit():
        end_session(current_user)
        flash(_("You have logged out."), "info")
        return redirect(url_for("auth.login"))
    return redirect(url_for("main.home"))


@auth_bp.route("/account/password", methods=["GET", "POST"])
def change_password():
    form = ChangePasswordForm()
    form._username = current_user.username
    if form.validate_on_submit():
        if not verify_password(current_user.password_hash, form.current_password.data):
            form.current_password.errors.append(_("The current password is wrong."))
        else:
            user = current_user._get_current_object()
            set_password(user, form.new_password.data)
            audit.record("update", object_type="user", object_id=user.id, section="admin",
                         details={"change": "own_password"})
            db.session.commit()
            start_session(user)  # the old sessions were revoked; keep this browser logged in
            flash(_("Your password has been changed. Other sessions were logged out."), "success")
            return redirect(url_for("main.home"))
    return render_template("auth/change_password.html", form=form)


# -- administration ------------------------------------------------------------
@admin_bp.before_request
def _admin_only():
    access.require_area(current_user, "write" if request.method == "POST" else "read", "admin")


def _organisation_choices(include_none: bool = False):
    orgs = db.session.scalars(select(Organisation).order_by(Organisation.path)).all()
    top = [(0, _("(none: top level)"))] if include_none else []
    return options(top + [(o.id, ("　" * o.depth) + o.name) for o in orgs])


@admin_bp.route("/users")
def users():
    rows = db.session.scalars(select(User).order_by(User.active.desc(), User.username)).all()
    return render_template("admin/users.html", users=rows, roles=ROLE_LABELS, button=ButtonForm())


@admin_bp.route("/users/new", methods=["GET", "POST"])
def new_user():
    form = UserForm()
    form.organisation_id.choices = _organisation_choices()
    if form.validate_on_submit():
        if db.session.scalar(select(User.id).where(User.username == form.username.data.strip())):
            form.username.errors.append(_("This username is taken."))
        else:
            user = create_user(form.username.data, form.display_name.data, form.role.data,
                               db.session.get(Organisation, form.organisation_id.data),
                               form.password.data, must_change=True)
            audit.record("admin", object_type="user", object_id=user.id, section="admin",
                         details={"change": "create_user", "role": user.role})
            try:
                db.session.commit()
            except IntegrityError:
                db.session.rollback()
                form.username.errors.append(_("This username is taken."))
            else:
                flash(_("User %(name)s created. They must change the password at first log-in.",
                        name=user.username), "success")
                return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form)


def _get_user(user_id: int) -> User:
    return db.get_or_404(User, user_id)


@admin_bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
def reset_password(user_id: int):
    user = _get_user(user_id)
    form = ResetPasswordForm()
    form._username = user.username
    if form.validate_on_submit():
        set_password(user, form.password.data, must_change=form.must_change.data)
        audit.record("admin", object_type="user", object_id=user.id, section="admin",
                     details={"change": "reset_password"})
        db.session.commit()
        flash(_("Password of %(name)s reset; their sessions were ended.", name=user.username), "success")
        return redirect(url_for("admin.users"))
    return render_template("admin/reset_password.html", form=form, user=user)


@admin_bp.route("/users/<int:user_id>/active", methods=["POST"])
def set_active(user_id: int):
    user = _get_user(user_id)
    form = ButtonForm()
    if form.validate_on_submit():
        if user.id == current_user.id:
            flash(_("You cannot deactivate your own account."), "error")
            return redirect(url_for("admin.users"))
        user.active = request.form.get("active") == "1"
        if not user.active:
            revoke_all_sessions(user)
        audit.record("admin", object_type="user", object_id=user.id, section="admin",
                     details={"change": "activate" if user.active else "deactivate"})
        db.session.commit()
        flash(_("%(name)s is now active.", name=user.username) if user.active
              else _("%(name)s is deactivated and logged out everywhere.", name=user.username), "success")
    return redirect(url_for("admin.users"))


@admin_bp.route("/organisations")
def organisations():
    orgs = db.session.scalars(select(Organisation).order_by(Organisation.path)).all()
    return render_template("admin/organisations.html", organisations=orgs, kinds=ORG_KIND_LABELS)


@admin_bp.route("/organisations/new", methods=["GET", "POST"])
def new_organisation():
    form = OrganisationForm()
    form.parent_id.choices = _organisation_choices(include_none=True)
    if form.validate_on_submit():
        name = form.name.data.strip()
        if db.session.scalar(select(Organisation.id).where(Organisation.name == name)):
            form.name.errors.append(_("An organisation with this name exists."))
        else:
            parent = db.session.get(Organisation, form.parent_id.data) if form.parent_id.data else None
            org = create_organisation(name, form.kind.data, form.region_code.data, parent)
            audit.record("admin", object_type="organisation", object_id=org.id, section="admin",
                         details={"change": "create_organisation", "kind": org.kind})
            db.session.commit()
            flash(_("Organisation %(name)s created.", name=org.name), "success")
            return redirect(url_for("admin.organisations"))
    return render_template("admin/organisation_form.html", form=form)
