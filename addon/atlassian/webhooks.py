"""Placeholder blueprint; filled in by the Connect foundation work."""

from flask import Blueprint

bp = Blueprint("webhooks", __name__)
