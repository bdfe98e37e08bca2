"""victimcare: encrypted, access-controlled case files for rescued people."""
from __future__ import annotations

import logging
import os
import secrets

from flask import Flask

from .config import DEFAULTS, from_environment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
log = logging.getLogger(__name__)


def create_app(config: dict | None = None) -> Flask:
    instance = os.environ.get("VICTIMCARE_INSTANCE_PATH") or os.path.join(ROOT, "instance")
    app = Flask(__name__, instance_path=instance, instance_relative_config=True,
                template_folder=os.path.join(ROOT, "templates"))
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(from_environment())
    app.config.update(config or {})
    os.makedirs(app.instance_path, exist_ok=True)
    _fill_instance_defaults(app)

    from . import database, web
    from .extensions import babel, csrf, db, limiter, login_manager, migrate
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(ROOT, "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=web.select_locale)
    login_manager.init_app(app)
    database.init_app(app)  # before web's hooks: the session check is the first to commit
    web.init_app(app)

    from .database import configure_engine
    from .keys import load_keyring
    with app.app_context():
        configure_engine(db.engine)
        load_keyring(app)

    from .cli import register_commands
    register_commands(app)
    return app


def _fill_instance_defaults(app: Flask) -> None:
    cfg = app.config
    if not cfg.get("SQLALCHEMY_DATABASE_URI"):
        cfg["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, "victimcare.db")
    if not cfg.get("KEYRING_FILE"):
        cfg["KEYRING_FILE"] = os.path.join(app.instance_path, "keys.json")
    if not cfg.get("SECRET_KEY"):
        cfg["SECRET_KEY"] = _instance_secret(os.path.join(app.instance_path, "secret_key"))
    if cfg.get("DEVELOPMENT"):
        cfg["SESSION_COOKIE_SECURE"] = False


def _instance_secret(path: str) -> str:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    with open(path, encoding="ascii") as fh:
        return fh.read().strip()
