"""Placeholder: being built."""
from flask import Blueprint

ledgers_bp = Blueprint("ledgers", __name__)
