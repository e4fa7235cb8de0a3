"""The chat websocket at `/ws`: a thin receive loop that authenticates, parses and calls actions.

Browsers cannot set headers on a websocket, so the first frame carries the context token from
`AP.context.getToken()`: `{"type": "auth", "token": ..., "project_key": ...}`. The server
replies `ready` with `reauth_before`, the time by which the client must send a fresh token.
Close code 4401: authentication failed or the token expired. Close code 4403: the customer is
not, or no longer, a key user of an active subscription. A conversation the viewer may not
see gets an error frame with `status` 4404 and the socket stays open for the others; other
rejected frames get an error frame with the HTTP-like status of the error. Error frames carry a sentence in the language of `?lang=` (fr, en).
"""

import json
import logging
import socket
import time

from flask import Blueprint, current_app, request
from flask_sock import Sock
from simple_websocket import ConnectionClosed

from ..access.keyusers import one_answer_per_frame
from ..atlassian.auth import authenticate
from ..chat.access import access_conversation, require_key_user, require_writer, viewer_for
from ..chat.actions import database, post_message
from ..chat.models import Visibility
from ..errors import AddonError, AuthenticationError, InvalidInput, NotFound, PermissionDenied
from ..models import utcnow
from ..workspace.presence import CUSTOMER_MARK_EVERY, mark_customer_left, mark_customer_seen
from . import ws_solution
from .api import localize

log = logging.getLogger(__name__)

bp = Blueprint("ws", __name__)
sock = Sock()

# Heartbeat: the server pings every 25 s and closes a socket that missed a pong, which also keeps
# proxies and load balancers (often 60 s idle timeouts) from cutting a quiet chat.
PING_INTERVAL_SECS = 25
MAX_FRAME_BYTES = 64 * 1024
AUTH_TIMEOUT_SECS = 10
# The client is asked to re-authenticate this long before its token expires.
REAUTH_MARGIN_SECS = 60
CLOSE_UNAUTHORIZED = 4401
# A customer who is not a key user of an active subscription: the page shows the other channels.
CLOSE_FORBIDDEN = 4403
STATUS_NOT_FOUND = 4404
# The websocket protocol limits a close reason to 123 bytes.
CLOSE_REASON_MAX_BYTES = 123
CLOSE_NORMAL = 1000
CLOSE_INTERNAL_ERROR = 1011
# After sending its close frame, the server waits this long for the client's close frame before it
# ends the TCP connection anyway.
CLOSE_HANDSHAKE_SECS = 2


class Closing(Exception):
    """End the socket with a close code, after sending the reason as an error frame."""

    def __init__(self, code, error_code, message):
        super().__init__(message)
        self.code = code
        self.error_code = error_code
        self.message = message


def _redeem_ticket(ticket):
    if not current_app.config.get("FORGE_ENABLED"):
        raise AuthenticationError("Les tickets de socket Forge sont désactivés (FORGE_ENABLED) ; envoyez un jeton. "
                                  "/ Forge socket tickets are off (FORGE_ENABLED); send a token.")
    from ..atlassian.forge import socket_tickets

    return socket_tickets.redeem(ticket)


def init_app(app):
    """Serve `/ws` with the heartbeat and frame size of this module."""
    app.config.setdefault("SOCK_SERVER_OPTIONS", {
        "ping_interval": PING_INTERVAL_SECS, "max_message_size": MAX_FRAME_BYTES,
    })
    app.register_blueprint(bp)


@sock.route("/ws", bp=bp)
def chat_socket(ws):
    try:
        SocketSession(ws, current_app.extensions["hub"], request.args.get("lang")).run()
    except Exception:  # close code 1011 makes the client reconnect
        log.exception("Socket session failed, so the socket is closed with %s", CLOSE_INTERNAL_ERROR)
        _close_quietly(ws, CLOSE_INTERNAL_ERROR)
    _close_quietly(ws, CLOSE_NORMAL)
    _end_connection(ws)


class SocketSession:
    """The state of one socket's receive loop: its viewer, token deadline and hub connection."""

    def __init__(self, ws, hub, lang):
        self.ws = ws
        self.hub = hub
        self.lang = lang
        self.viewer = None
        self.connect = None
        self.project_key = None
        self.deadline = 0.0
        self._frame_rows = []  # conversations read during the current frame, held until it ends
        self.connection = None
        # When this socket last marked its conversations seen, for a key user (workspace presence).
        self.seen_marked_at = None

    def run(self):
        try:
            self._authenticate_first()
            while True:
                frame = self._receive()
                if frame is not None:
                    self._handle(frame)
        except Closing as closing:
            self._close(closing)
        except ConnectionClosed:
            pass
        finally:
            if self.connection is not None:
                left = self.hub.disconnect(self.connection)
                if left:
                    # The dashboard stops showing the key user as connected at once, rather than
                    # when their last mark grows old. Another process's socket marks them again.
                    mark_customer_left(left)
            database().remove_session()

    # Authentication.

    def _authenticate_first(self):
        timeout = current_app.config.get("WS_AUTH_TIMEOUT_SECS", AUTH_TIMEOUT_SECS)
        raw = self.ws.receive(timeout=timeout)
        if raw is None:
            raise Closing(CLOSE_UNAUTHORIZED, "authentication_failed",
                          f"Aucune trame d'authentification reçue en {timeout} s ; rechargez la page. "
                          f"/ No auth frame received within {timeout} s; reload the page.")
        frame = _parse(raw)
        if frame is None or frame.get("type") != "auth":
            raise Closing(CLOSE_UNAUTHORIZED, "authentication_failed",
                          "La première trame doit être {\"type\": \"auth\"} avec un jeton. "
                          "/ The first frame must be {\"type\": \"auth\"} with a token.")
        self._authenticate(frame)
        self.connection = self.hub.connect(self.ws, self.viewer)
        self._send_ready()

    def _authenticate(self, frame):
        token = frame.get("token")
        ticket = frame.get("ticket") if token is None else None
        project_key = frame.get("project_key")
        if not (isinstance(token, str) or isinstance(ticket, str)) or not (
                project_key is None or isinstance(project_key, str)):
            raise Closing(CLOSE_UNAUTHORIZED, "authentication_failed",
                          "La trame auth doit contenir un jeton (token) ou un ticket texte. "
                          "/ The auth frame must carry a string token or ticket.")
        try:
            # A Forge Custom UI page sends a single-use ticket from POST /forge/ui/socket-ticket.
            connect = _redeem_ticket(ticket) if ticket is not None else authenticate("context", token=token)
            if self.connect is not None and (connect.client_key, connect.account_id) != (
                    self.connect.client_key, self.connect.account_id):
                raise AuthenticationError(
                    "Le nouveau jeton désigne un autre site ou utilisateur ; ouvrez un nouveau socket. "
                    "/ The new token names another site or user; open a new socket.")
            viewer = viewer_for(connect, project_key if self.connect is None else self.project_key)
        except AuthenticationError as error:
            raise Closing(CLOSE_UNAUTHORIZED, error.code, error.message) from None
        try:
            require_key_user(viewer)
        except PermissionDenied as error:
            raise Closing(CLOSE_FORBIDDEN, error.code, error.message) from None

        self.connect = connect
        self.viewer = viewer
        if self.project_key is None:
            self.project_key = project_key
        if self.connection is not None:
            self.connection.viewer = viewer
        self.deadline = connect.claims["exp"] + current_app.config["JWT_LEEWAY_SECS"]

    def _send_ready(self):
        expires_at = self.connect.claims["exp"]
        margin = min(REAUTH_MARGIN_SECS, max(0, (expires_at - time.time()) / 2))
        self.connection.send({
            "type": "ready", "account_id": self.viewer.account_id, "role": self.viewer.role,
            "reauth_before": int(expires_at - margin),
        })

    # The receive loop.

    def _check_deadline(self):
        remaining = self.deadline - time.time()
        if remaining <= 0:
            raise Closing(CLOSE_UNAUTHORIZED, "token_expired",
                          "Le jeton a expiré sans ré-authentification ; rechargez la page. "
                          "/ The token expired and no new auth frame came; reload the page.")
        return remaining

    def _receive(self):
        raw = self.ws.receive(timeout=self._check_deadline())
        if raw is None:
            return None
        frame = _parse(raw)
        if frame is None:
            self._error("invalid_input", "Trame illisible : un objet JSON avec un champ type est attendu. "
                                         "/ Unreadable frame: expected a JSON object with a type field.")
        return frame

    def _handle(self, frame):
        kind = frame.get("type")
        handler = {
            "auth": self._on_auth, "ping": self._on_ping, "subscribe": self._on_subscribe,
            "unsubscribe": self._on_unsubscribe, "send": self._on_send, "typing": self._on_typing,
            "read": self._on_read, **ws_solution.handlers(self),
        }.get(kind)
        try:
            if kind != "auth":
                self._check_deadline()
            self._frame_rows = []
            with one_answer_per_frame():
                self._recheck_follows()
                if handler is None:
                    raise InvalidInput(f"Type de trame inconnu {str(kind)[:40]!r}. "
                                       f"/ Unknown frame type {str(kind)[:40]!r}.")
                handler(frame)
        except NotFound as error:
            self._error(error.code, error.message, status=STATUS_NOT_FOUND,
                        conversation_id=frame.get("conversation_id"),
                        client_message_id=frame.get("client_message_id"))
        except AddonError as error:
            # The client_message_id lets the sender find which pending message was rejected.
            self._error(error.code, error.message, status=error.status,
                        client_message_id=frame.get("client_message_id"))
        except (Closing, ConnectionClosed):
            raise
        except Exception:  # a failed frame does not end the socket, so the client may retry it
            log.exception("Frame %s of %s failed", kind, self.viewer.account_id)
            self._error("internal_error", "Erreur interne : réessayez dans un instant. "
                                          "/ Internal error: try again in a moment.", status=500)
        finally:
            self._frame_rows = []
            database().remove_session()

    def _recheck_follows(self):
        """Stop live delivery of every followed conversation the viewer may no longer see or write in.

        A key user removed, or whose subscription was suspended or ended, stops receiving here at
        the latest; `notify_access_changed` makes the hub do it sooner.
        """
        for conversation_id in list(self.connection.follows):
            try:
                conversation = access_conversation(self.viewer, conversation_id)
                # Held for the rest of the frame: the session maps rows weakly, and the frame's
                # own handler reads the same conversation again.
                self._frame_rows.append(conversation)
                require_writer(self.viewer, conversation)
            except NotFound as error:
                log.info("Access of %s to conversation %s withdrawn, live delivery stopped",
                         self.viewer.account_id, conversation_id)
                self.hub.unfollow(self.connection, conversation_id)
                self._error(error.code, error.message, status=STATUS_NOT_FOUND, conversation_id=conversation_id)
            except PermissionDenied as error:
                log.info("Key user %s may no longer chat in conversation %s (%s), live delivery stopped",
                         self.viewer.account_id, conversation_id, error.code)
                self.hub.unfollow(self.connection, conversation_id)
                self._error(error.code, error.message, status=error.status, conversation_id=conversation_id)

    # Frame handlers: parse, check access, call the action, reply.

    def _on_auth(self, frame):
        self._authenticate(frame)
        self._send_ready()

    def _on_ping(self, _frame):
        self.connection.send({"type": "pong"})
        self._mark_customer_seen()

    def _mark_customer_seen(self, force=False):
        """Tell the agents' dashboard that this key user still has their chats open."""
        if self.viewer.is_agent:
            return
        now = utcnow()
        if not force and self.seen_marked_at is not None and now - self.seen_marked_at < CUSTOMER_MARK_EVERY:
            return
        self.seen_marked_at = now
        mark_customer_seen(list(self.connection.follows), now)

    def _on_subscribe(self, frame):
        conversation = self._conversation(frame)
        require_writer(self.viewer, conversation)
        after_seq = _whole_number(frame.get("after_seq", 0), "after_seq")
        self.hub.follow(self.connection, conversation, after_seq)
        self._mark_customer_seen(force=True)

    def _on_unsubscribe(self, frame):
        self.hub.unfollow(self.connection, _whole_number(frame.get("conversation_id"), "conversation_id"))

    def _on_send(self, frame):
        conversation = self._conversation(frame)
        require_writer(self.viewer, conversation)
        client_message_id = frame.get("client_message_id")
        # Live copies of this conversation wait until the ack is queued, so the sender receives
        # the ack before its own message.
        self.connection.hold(conversation.id)
        try:
            message, _created = post_message(
                self.viewer, conversation.id, frame.get("body"),
                visibility=frame.get("visibility") or Visibility.PUBLIC,
                client_message_id=client_message_id,
            )
            self.connection.send({
                "type": "ack", "conversation_id": conversation.id,
                "client_message_id": message.client_message_id, "seq": message.seq, "id": message.id,
            })
        finally:
            self.connection.release(conversation.id)

    def _on_typing(self, frame):
        conversation = self._conversation(frame)
        require_writer(self.viewer, conversation)
        self.hub.typing(self.viewer, conversation, frame.get("visibility"))

    def _on_read(self, frame):
        conversation = self._conversation(frame)
        self.hub.mark_read(self.viewer, conversation, _whole_number(frame.get("seq"), "seq"))

    # Helpers.

    def _conversation(self, frame):
        conversation_id = _whole_number(frame.get("conversation_id"), "conversation_id")
        return access_conversation(self.viewer, conversation_id)

    def conversation_of(self, frame):
        """Load the frame's conversation if the viewer may see it (for the handlers of other modules)."""
        return self._conversation(frame)

    def _error(self, code, message, status=None, **extra):
        frame = {"type": "error", "code": code, "message": localize(message, self.lang)}
        if status is not None:
            frame["status"] = status
        frame.update({name: value for name, value in extra.items() if value is not None})
        if self.connection is not None:
            self.connection.send(frame)
        else:
            self.ws.send(json.dumps(frame, ensure_ascii=False))

    def _close(self, closing):
        message = localize(closing.message, self.lang)
        log.info("Socket closed with %s: %s", closing.code, closing.error_code)
        try:
            self._error(closing.error_code, closing.message, status=closing.code)
            if self.connection is not None:
                # The queued error frame goes out before the close frame.
                self.connection.flush(timeout=2)
                self.connection.abort(code=closing.code, reason=_close_reason(message))
            else:
                self.ws.close(closing.code, _close_reason(message))
        except ConnectionClosed:
            pass


def _close_quietly(ws, code):
    """Send a close frame with `code` unless one was sent or received already."""
    if ws.connected:
        try:
            ws.close(code)
        except ConnectionClosed:
            pass


def _end_connection(ws):
    """End the TCP connection once the close handshake is over, before flask-sock returns.

    With werkzeug's server (development and tests), flask-sock 0.7 returns an HTTP response
    after this handler and werkzeug writes its "HTTP/1.1 200 OK" head on the upgraded
    connection. A browser reads those bytes as a frame after the close frame, and Chromium logs
    "Invalid frame header" (0x48 is a close opcode without FIN). Once the socket is shut down,
    that write fails with a broken pipe, which werkzeug ignores as a dropped connection.
    RFC 6455 section 7.1.1 also states that the server SHOULD close the TCP connection first.
    """
    # simple-websocket 1.1's reader thread ends once it has received the client's close frame,
    # whichever side closed first, so joining it waits for the end of the close handshake.
    ws.thread.join(CLOSE_HANDSHAKE_SECS)
    try:
        ws.sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already shut down or closed by the peer
        pass


def _parse(raw):
    try:
        frame = json.loads(raw)
    except (TypeError, ValueError):
        return None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        return None
    return frame


def _whole_number(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{name} doit être un entier positif ou nul, reçu {str(value)[:40]!r}. "
                           f"/ {name} must be a whole number, got {str(value)[:40]!r}.")
    return value


def _close_reason(message):
    encoded = message.encode("utf-8")
    if len(encoded) <= CLOSE_REASON_MAX_BYTES:
        return message
    return encoded[:CLOSE_REASON_MAX_BYTES - 3].decode("utf-8", errors="ignore") + "…"
