"""Placeholder: being built."""
from flask import Blueprint

disclosures_bp = Blueprint("disclosures", __name__)
from . import models  # noqa: F401  (the tables must be known to migrations)
