"""Placeholder: being built."""
from flask import Blueprint

portability_bp = Blueprint("portability", __name__)
