"""User and organisation administration: the admin role only (access.POLICY "admin")."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import access, audit
from ..choices import options
from ..extensions import db
from . import totp
from .forms import ORG_KIND_LABELS, ROLE_LABELS, ButtonForm, OrganisationForm, ResetPasswordForm, UserForm
from .models import Organisation, User
from .service import create_organisation, create_user, revoke_all_sessions, set_password

admin_bp = Blueprint("admin", __name__, url_prefix="/admin")


@admin_bp.before_request
def _admin_only():
    access.require_area(current_user, "write" if request.method == "POST" else "read", "admin")


def _organisation_choices(include_none: bool = False):
    orgs = db.session.scalars(select(Organisation).order_by(Organisation.path)).all()
    top = [(0, _("(none: top level)"))] if include_none else []
    return options(top + [(o.id, ("　" * o.depth) + o.name) for o in orgs])


@admin_bp.route("/users")
@access.route("admin")
def users():
    rows = db.session.scalars(select(User).order_by(User.active.desc(), User.username)).all()
    return render_template("admin/users.html", users=rows, roles=ROLE_LABELS, button=ButtonForm())


@admin_bp.route("/users/new", methods=["GET", "POST"])
@access.route("admin", post="write")
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
    if user_id >= 2 ** 63:  # no such row, and SQLite cannot even compare it (OverflowError, a 500)
        abort(404)
    return db.get_or_404(User, user_id)


@admin_bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
@access.route("admin", post="write")
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
@access.route("admin", "write")
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


@admin_bp.route("/users/<int:user_id>/sign-out", methods=["POST"])
@access.route("admin", "write")
def sign_out_user(user_id: int):
    """End every session of the user now (a lost phone, a shared computer, a suspicion)."""
    user = _get_user(user_id)
    if ButtonForm().validate_on_submit():
        revoke_all_sessions(user)
        audit.record("admin", object_type="user", object_id=user.id, section="admin",
                     details={"change": "sign_out_everywhere"})
        db.session.commit()
        flash(_("%(name)s is logged out everywhere.", name=user.username), "success")
    return redirect(url_for("admin.users"))


@admin_bp.route("/users/<int:user_id>/two-factor/reset", methods=["POST"])
@access.route("admin", "write")
def reset_two_factor(user_id: int):
    """A lost phone and no recovery codes: the user sets up two-factor again at the next log-in."""
    user = _get_user(user_id)
    if ButtonForm().validate_on_submit():
        totp.reset(user)
        revoke_all_sessions(user)
        audit.record("admin", object_type="user", object_id=user.id, section="admin",
                     details={"change": "reset_totp"})
        db.session.commit()
        flash(_("Two-factor authentication of %(name)s reset; they set it up again at their next log-in.",
                name=user.username), "success")
    return redirect(url_for("admin.users"))


@admin_bp.route("/organisations")
@access.route("admin")
def organisations():
    orgs = db.session.scalars(select(Organisation).order_by(Organisation.path)).all()
    return render_template("admin/organisations.html", organisations=orgs, kinds=ORG_KIND_LABELS)


@admin_bp.route("/organisations/new", methods=["GET", "POST"])
@access.route("admin", post="write")
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
