"""Placeholder blueprint; filled in by the Connect foundation work."""

from flask import Blueprint

bp = Blueprint("lifecycle", __name__)
