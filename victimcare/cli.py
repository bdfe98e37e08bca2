"""`flask --app victimcare ...` commands."""
from __future__ import annotations

import getpass
import sys

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from . import audit
from .access import ROLES
from .crypto import keyring
from .extensions import db
from .keys import pending_rotation, rotate, start_rotation


def register_commands(app) -> None:
    from .names.reindex import reindex_command
    for command in (create_user_command, rotate_keys_command, audit_verify_command, demo_command,
                    installation_key_command, backup_command, backup_verify_command, restore_command,
                    reindex_command):
        app.cli.add_command(command)


@click.command("create-user")
@click.option("--username", prompt=True)
@click.option("--role", type=click.Choice(ROLES), prompt=True)
@click.option("--organisation", "organisation_name", prompt=True,
              help="Name of an existing organisation; created as a top-level bureau with --region if absent.")
@click.option("--region", default=None, help="Division code for a new top-level organisation.")
@click.option("--display-name", default="")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def create_user_command(username, role, organisation_name, region, display_name, password_stdin):
    """Create a user (e.g. the first administrator)."""
    from .auth.models import Organisation, User
    from .auth.service import create_organisation, create_user
    password = sys.stdin.readline().rstrip("\n") if password_stdin else getpass.getpass("Password: ")
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        raise click.ClickException(f"The password needs at least {minimum} characters.")
    if db.session.scalar(select(User.id).where(User.username == username)):
        raise click.ClickException(f"User {username!r} exists.")
    org = db.session.scalar(select(Organisation).where(Organisation.name == organisation_name))
    if org is None:
        if not region:
            raise click.ClickException(f"No organisation {organisation_name!r}; give --region to create it.")
        org = create_organisation(organisation_name, "bureau", region, None)
    user = create_user(username, display_name or username, role, org, password)
    audit.record("admin", object_type="user", object_id=user.id, section="admin",
                 username="cli", details={"change": "create_user", "role": role})
    db.session.commit()
    click.echo(f"Created {role} {username!r} in {org.name}.")


@click.command("rotate-keys")
@click.option("--batch-size", default=None, type=int, help="Values re-encrypted per transaction.")
@click.option("--username", prompt="Administrator username", help="An administrator's username.")
@click.option("--password", prompt=True, hide_input=True, help="Their password (prompted if absent).")
@click.option("--totp-code", prompt="Two-factor code", help="Their current two-factor code or a recovery code.")
@with_appcontext
def rotate_keys_command(batch_size, username, password, totp_code):
    """Re-encrypt every value under a newly generated data key. Safe to interrupt and re-run:
    a re-run finishes the rotation in progress before starting another. Needs an administrator's
    password and two-factor code; the rotation is audited as that administrator."""
    from .auth.service import authenticate_admin
    admin, problem = authenticate_admin(username, password, totp_code, purpose="rotate-keys")
    if admin is None:
        raise click.ClickException(problem)
    kr = keyring()
    batch = batch_size or current_app.config["KEY_ROTATION_BATCH"]
    pending = pending_rotation(kr)
    if pending:
        click.echo(f"Resuming rotation to key {kr.active}: {pending} values still under older keys.")
    else:
        kid = start_rotation(kr)
        pending = pending_rotation(kr)
        click.echo(f"New active key {kid} written to {kr.path}. Re-encrypting {pending} values.")
    audit.record("key_rotation", user=admin, details={"active": kr.active, "pending": pending})
    db.session.commit()
    with click.progressbar(length=pending, label="Re-encrypting") as bar:
        done = rotate(kr, batch, progress=bar.update)
    audit.record("key_rotation", user=admin, details={"active": kr.active, "done": done, "finished": True})
    db.session.commit()
    click.echo(f"Done: {done} values now under key {kr.active}. Older keys stay in the keyring so "
               "backups made before today remain readable.")


@click.command("audit-verify")
@with_appcontext
def audit_verify_command():
    """Check the audit chain; exit 1 naming the first bad row."""
    result = audit.verify()
    if result.ok:
        click.echo(f"Audit chain intact: {result.checked} rows.")
        return
    click.echo(f"Audit chain BROKEN at row {result.bad_seq}: {result.reason} "
               f"({result.checked} rows before it are intact).", err=True)
    sys.exit(1)


@click.command("demo")
@with_appcontext
def demo_command():
    """Load demo organisations, one user per role and fictional people (idempotent)."""
    from .demo import load_demo
    load_demo(echo=click.echo)


@click.command("installation-key")
@with_appcontext
def installation_key_command():
    """Print this installation's public transfer keys (generated on first use) for partners to register."""
    from .portability.transfer import installation_keys, keys_path
    public = installation_keys().public
    click.echo(public.text())
    click.echo(f"Fingerprint: {public.fingerprint}", err=True)
    click.echo(f"Private keys: {keys_path()} (back it up apart from the database; never share it).", err=True)


# -- backup and restore (the logic is in victimcare/backup/) ----------------------
@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False))
@with_appcontext
def backup_command(path):
    """Write a consistent, encrypted backup of the database to PATH while the app runs.
    The keyring is not in it: back up instance/keys.json separately."""
    from .backup import BackupError, create_backup, describe
    try:
        header = create_backup(path)
    except (BackupError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Wrote {path}. {describe(header)}")


@click.command("backup-verify")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def backup_verify_command(path):
    """Check a backup completely (every chunk, the checksum) without restoring it."""
    from .backup import BackupError, describe, verify_backup
    try:
        header = verify_backup(path)
    except (BackupError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Backup intact. {describe(header)}")


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Replace the database without asking.")
@with_appcontext
def restore_command(path, yes):
    """Check the backup at PATH completely, then replace the whole database with it."""
    from .backup import BackupError, describe, restore_backup

    def confirm(header):
        click.echo(describe(header))
        return yes or click.confirm("Replace the whole database with this backup?", default=False)
    try:
        outcome = restore_backup(path, confirm)
    except (BackupError, OSError) as exc:
        raise click.ClickException(f"{exc} Nothing was restored.") from None
    if outcome is None:
        raise click.ClickException("Nothing was restored.")
    click.echo("\n".join(outcome.report()))
    if not outcome.ok:
        sys.exit(1)
