"""Log-in (password, then a two-factor code where the user has one), log-out, re-authentication,
and the user's own account. Administration is in admin_views.py."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from .. import access, audit
from ..extensions import db, limiter
from . import totp
from .forms import ButtonForm, ChangePasswordForm, CodeForm, ConfirmForm, LoginForm
from .models import User, utcnow
from .passwords import verify_password
from .reauth import recent_auth_required
from .service import (authenticate, begin_pending_login, check_second_factor, complete_login,
                      count_failure, current_session, end_pending_login,
                      end_session, pending_login, revoke_all_sessions, set_password, start_session)

auth_bp = Blueprint("auth", __name__)


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
            return _after_password(user, request.args.get("next"))
        form.form_errors.append(_locked_message() if reason == "locked" else _("Wrong username or password."))
    return render_template("auth/login.html", form=form)


def _locked_message() -> str:
    return _("This account is locked after too many failed attempts. Try again later or ask an administrator.")


def _after_password(user: User, next_url: str | None):
    """The password was right: sign in, or go on to the code (or to set up two-factor first)."""
    if user.has_totp or totp.required_for(user):
        if not user.has_totp:
            totp.begin_enrolment(user)
        begin_pending_login(user, next_url)
        db.session.commit()
        return redirect(url_for("auth.login_code" if user.has_totp else "auth.login_enrol"))
    return _signed_in(user, next_url)


def _signed_in(user: User, next_url: str | None, factor: str | None = None):
    complete_login(user)
    start_session(user, factor)
    return redirect(_landing(user, next_url))


def _landing(user: User, next_url: str | None) -> str:
    return url_for("auth.change_password") if user.must_change_password else _safe_next(next_url)


def _pending_or_restart():
    """The user between password and code, or a redirect: home when already signed in, else to the
    log-in page (expired, locked)."""
    if current_user.is_authenticated:
        return None, redirect(url_for("main.home"))
    user, next_url = pending_login()
    if user is None:
        flash(_("The log-in took too long. Please enter your password again."), "error")
        return None, redirect(url_for("auth.login"))
    if user.is_locked():
        end_pending_login()
        flash(_locked_message(), "error")
        return None, redirect(url_for("auth.login"))
    return (user, next_url), None


@auth_bp.route("/login/code", methods=["GET", "POST"])
@access.public  # the user is not signed in yet: only the pending marker of the password step counts
@limiter.limit(_login_rate_limit, methods=["POST"])
def login_code():
    pending, restart = _pending_or_restart()
    if restart:
        return restart
    user, next_url = pending
    if not user.has_totp:
        return redirect(url_for("auth.login_enrol"))
    form = CodeForm()
    if form.validate_on_submit():
        factor = check_second_factor(user, form.code.data)
        if factor:
            end_pending_login()
            return _signed_in(user, next_url, factor)
        if user.is_locked():
            end_pending_login()
            flash(_locked_message(), "error")
            return redirect(url_for("auth.login"))
        form.code.errors.append(_("This code is wrong or was used already."))
    return render_template("auth/login_code.html", form=form)


@auth_bp.route("/login/two-factor", methods=["GET", "POST"])
@access.public  # as login_code: before the first code there is no session
@limiter.limit(_login_rate_limit, methods=["POST"])
def login_enrol():
    """Managers and administrators set up two-factor before their first session starts."""
    pending, restart = _pending_or_restart()
    if restart:
        return restart
    user, next_url = pending
    if user.has_totp:
        return redirect(url_for("auth.login_code"))
    if user.totp_secret_enc is None or not totp.required_for(user):  # reset or role changed meanwhile
        end_pending_login()
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if form.validate_on_submit():
        codes = totp.confirm_enrolment(user, form.code.data)
        if codes:
            end_pending_login()
            _audit_enrolment(user)
            complete_login(user)
            start_session(user, "totp")
            return render_template("auth/recovery_codes.html", codes=codes, continue_url=_landing(user, next_url))
        count_failure(user)
        audit.record_now("login_failed", username=user.username, details={"reason": "code", "step": "enrol"})
        if user.is_locked():
            end_pending_login()
            flash(_locked_message(), "error")
            return redirect(url_for("auth.login"))
        form.code.errors.append(_("This code is wrong. Check the time on your phone and enter the code shown now."))
    return render_template("auth/enrol.html", form=form, secret=user.totp_secret, qr=totp.qr_svg(user),
                           required=True)


def _audit_enrolment(user: User) -> None:
    audit.record("update", object_type="user", object_id=user.id, section="admin", user=user,
                 details={"change": "totp_enrolled"})


@auth_bp.route("/logout", methods=["POST"])
@access.signed_in
def logout():
    if ButtonForm().validate_on_submit():
        end_session(current_user)
        flash(_("You have logged out."), "info")
        return redirect(url_for("auth.login"))
    return redirect(url_for("main.home"))


@auth_bp.route("/account/confirm", methods=["GET", "POST"])
@access.signed_in
def confirm():
    """Re-authentication: prove again who you are, then back to where you were going."""
    user = current_user._get_current_object()
    form = ConfirmForm()
    next_url = request.args.get("next")
    if form.validate_on_submit():
        problem = _reauthenticate(user, form)
        if problem is None:
            current_session().authenticated_at = utcnow()
            audit.record("reauth", user=user)
            db.session.commit()
            return redirect(_safe_next(next_url))
        form.form_errors.append(problem)
    return render_template("auth/confirm.html", form=form, needs_code=user.has_totp)


def _reauthenticate(user: User, form) -> str | None:
    """None when the password (and the code, if the user has two-factor) are right; else the message.
    Failures count towards the lock-out like at log-in."""
    if user.is_locked():
        return _locked_message()
    if not verify_password(user.password_hash, form.password.data):
        count_failure(user)
        audit.record_now("login_failed", username=user.username, details={"reason": "invalid", "step": "reauth"})
        return _("The password is wrong.")
    if user.has_totp and not check_second_factor(user, form.code.data):
        return _("This code is wrong or was used already.")
    return None


@auth_bp.route("/account")
@access.signed_in
def account():
    user = current_user._get_current_object()
    return render_template("auth/account.html", user=user, button=ButtonForm(),
                           codes_left=totp.recovery_codes_left(user) if user.has_totp else 0,
                           required=totp.required_for(user))


@auth_bp.route("/account/sign-out-everywhere", methods=["POST"])
@access.signed_in
def sign_out_everywhere():
    if not ButtonForm().validate_on_submit():
        return redirect(url_for("auth.account"))
    user = current_user._get_current_object()
    revoke_all_sessions(user)
    audit.record("logout", user=user, details={"everywhere": True})
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("You have been logged out on every computer and phone."), "info")
    return redirect(url_for("auth.login"))


@auth_bp.route("/account/recovery-codes", methods=["GET", "POST"])
@access.signed_in
@recent_auth_required
def recovery_codes():
    """New recovery codes (the old ones stop working); shown once."""
    user = current_user._get_current_object()
    if not user.has_totp:
        return redirect(url_for("auth.account"))
    form = ButtonForm()
    if form.validate_on_submit():
        codes = totp.new_recovery_codes(user)
        audit.record("update", object_type="user", object_id=user.id, section="admin",
                     details={"change": "recovery_codes"})
        db.session.commit()
        return render_template("auth/recovery_codes.html", codes=codes, continue_url=url_for("auth.account"))
    return render_template("auth/recovery_codes_new.html", form=form)


@auth_bp.route("/account/two-factor", methods=["GET", "POST"])
@access.signed_in
@recent_auth_required
def enrol():
    """Voluntary two-factor for the roles that do not need it (the others enrol at log-in)."""
    user = current_user._get_current_object()
    if user.has_totp:
        return redirect(url_for("auth.account"))
    form = CodeForm()
    if form.validate_on_submit():
        codes = totp.confirm_enrolment(user, form.code.data)
        if codes:
            _audit_enrolment(user)
            db.session.commit()
            return render_template("auth/recovery_codes.html", codes=codes, continue_url=url_for("auth.account"))
        form.code.errors.append(_("This code is wrong. Check the time on your phone and enter the code shown now."))
    # Keeps a key already given; also after a code posted before any enrolment began (no key: a 500).
    totp.begin_enrolment(user)
    db.session.commit()
    return render_template("auth/enrol.html", form=form, secret=user.totp_secret, qr=totp.qr_svg(user),
                           required=False)


@auth_bp.route("/account/password", methods=["GET", "POST"])
@access.signed_in
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
