"""Placeholder: being built."""
from flask import Blueprint

reports_bp = Blueprint("reports", __name__)
