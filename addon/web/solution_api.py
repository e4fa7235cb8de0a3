"""JSON routes of proposed solutions and of the satisfaction question, under `/api/chats/<id>`.

Agents propose a message; the key user validates it, says the problem persists, and answers the
satisfaction question. The websocket offers the same actions as frames (addon/web/ws_solution.py).
Authentication, errors and `?lang=` work as in addon/web/api.py.
"""

from flask import Blueprint, jsonify

from ..atlassian.auth import require_jwt
from ..chat import satisfaction, solution_records, solutions
from ..chat.access import require_agent, require_writer
from ..errors import AddonError, InvalidInput
from .api import json_body, load_conversation, render_error

bp = Blueprint("solution_api", __name__, url_prefix="/api")
bp.register_error_handler(AddonError, render_error)


def message_id_of(body):
    value = body.get("message_id")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput(f"message_id doit être l'identifiant (entier) d'un message, reçu {str(value)[:40]!r}. "
                           f"/ message_id must be a message's id (a whole number), got {str(value)[:40]!r}.")
    return value


def solution_response(viewer, conversation, status=200):
    return jsonify({"solution": solution_records.solution_view(conversation, viewer)}), status


@bp.get("/chats/<int:conversation_id>/solution")
@require_jwt("context")
def get_solution(conversation_id):
    viewer, conversation = load_conversation(conversation_id)
    return solution_response(viewer, conversation)


@bp.post("/chats/<int:conversation_id>/solutions")
@require_jwt("context")
def propose(conversation_id):
    body = json_body()
    viewer, conversation = load_conversation(conversation_id)
    require_agent(viewer)
    _solution, created = solutions.propose(viewer, conversation.id, message_id_of(body))
    return solution_response(viewer, conversation, 201 if created else 200)


@bp.post("/chats/<int:conversation_id>/solutions/<int:solution_id>/validate")
@require_jwt("context")
def validate(conversation_id, solution_id):
    viewer, conversation = load_conversation(conversation_id)
    require_writer(viewer, conversation)
    solutions.validate(viewer, conversation, solution_id)
    return solution_response(viewer, conversation)


@bp.post("/chats/<int:conversation_id>/solutions/<int:solution_id>/persists")
@require_jwt("context")
def persists(conversation_id, solution_id):
    viewer, conversation = load_conversation(conversation_id)
    require_writer(viewer, conversation)
    solutions.report_persists(viewer, conversation, solution_id)
    return solution_response(viewer, conversation)


@bp.post("/chats/<int:conversation_id>/satisfaction")
@require_jwt("context")
def answer_satisfaction(conversation_id):
    body = json_body()
    viewer, conversation = load_conversation(conversation_id)
    require_writer(viewer, conversation)
    satisfaction.answer(viewer, conversation, rating=body.get("rating"), comment=body.get("comment"),
                        declined=body.get("declined", False))
    return solution_response(viewer, conversation)
