"""Placeholder blueprint; filled in by the Connect foundation work."""

from flask import Blueprint

bp = Blueprint("descriptor", __name__)
