"""Placeholder: being built."""
from flask import Blueprint

stats_bp = Blueprint("stats", __name__)
