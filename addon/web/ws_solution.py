"""Websocket frames of proposed solutions and of the satisfaction question.

Frames a client sends (each may carry a `client_message_id`, echoed in the reply or error frame):
  {"type": "propose_solution", "conversation_id", "message_id"}           agents
  {"type": "validate_solution", "conversation_id", "solution_id"}         the key user
  {"type": "solution_persists", "conversation_id", "solution_id"}         the key user
  {"type": "answer_satisfaction", "conversation_id", "rating", "comment"} the key user
  ({"declined": true} instead of a rating declines the question)
The sender gets {"type": "solution_ack", "conversation_id", "client_message_id", "solution"}.
Everyone following the conversation gets the "solution" frame and the chat events; agents also
get "solution_alert" when the key user says the problem persists.
"""

from ..chat import satisfaction, solution_records, solutions
from ..chat.access import require_agent, require_writer
from ..errors import InvalidInput


def _positive_id(frame, name):
    value = frame.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput(f"{name} doit être un identifiant entier, reçu {str(value)[:40]!r}. "
                           f"/ {name} must be a whole-number id, got {str(value)[:40]!r}.")
    return value


def handlers(socket_session):
    """Return the frame handlers of this module, bound to one socket session (addon/web/ws.py)."""

    def reply(frame, conversation):
        socket_session.connection.send({
            "type": "solution_ack", "conversation_id": conversation.id,
            "client_message_id": frame.get("client_message_id"),
            "solution": solution_records.solution_view(conversation, socket_session.viewer),
        })

    def propose(frame):
        conversation = socket_session.conversation_of(frame)
        require_agent(socket_session.viewer)
        solutions.propose(socket_session.viewer, conversation.id, _positive_id(frame, "message_id"))
        reply(frame, conversation)

    def validate(frame):
        conversation = socket_session.conversation_of(frame)
        require_writer(socket_session.viewer, conversation)
        solutions.validate(socket_session.viewer, conversation, _positive_id(frame, "solution_id"))
        reply(frame, conversation)

    def persists(frame):
        conversation = socket_session.conversation_of(frame)
        require_writer(socket_session.viewer, conversation)
        solutions.report_persists(socket_session.viewer, conversation, _positive_id(frame, "solution_id"))
        reply(frame, conversation)

    def answer(frame):
        conversation = socket_session.conversation_of(frame)
        require_writer(socket_session.viewer, conversation)
        satisfaction.answer(socket_session.viewer, conversation, rating=frame.get("rating"),
                            comment=frame.get("comment"), declined=frame.get("declined", False))
        reply(frame, conversation)

    return {"propose_solution": propose, "validate_solution": validate, "solution_persists": persists,
            "answer_satisfaction": answer}
