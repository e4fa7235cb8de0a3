/* The live channel of one conversation: websocket first, HTTP long-poll when websockets fail.
 *
 * The websocket at <base URL>/ws is authenticated by its first frame. The channel then subscribes
 * with the last `seq` it holds, so a reconnect receives exactly what was missed. Messages not yet
 * acknowledged are sent again with their client_message_id after a reconnect, and the server
 * recognises the id, so it does not store them twice (addon/web/ws.py).
 *
 * Events a view listens to with channel.on(name, fn): "status" ("connecting", "connected",
 * "reconnecting", "polling"), "message" (a message payload, new or updated), "ack", "failed"
 * (a send the server rejected), "sync", "typing", "presence", "read", "error".
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat = window.SupportChat || {};
  var client = SupportChat.client;

  var BACKOFF_FIRST_MS = 1000;
  var BACKOFF_MAX_MS = 30000;
  // Consecutive websocket attempts that never reached "ready" before falling back to long-poll.
  var SOCKET_ATTEMPTS_BEFORE_POLL = 3;
  var PING_INTERVAL_MS = 25000;
  var PONG_TIMEOUT_MS = 10000;
  var TYPING_THROTTLE_MS = 3000;
  var READ_DEBOUNCE_MS = 800;
  // Re-authenticate this long before the server's reauth_before deadline.
  var REAUTH_MARGIN_MS = 30000;

  function Channel(conversationId, options) {
    this.id = conversationId;
    this.projectKey = (options && options.projectKey) || null;
    this.lastSeq = 0;
    this.pending = [];  // unacknowledged sends, in the order they were written
    this.listeners = {};
    this.socket = null;
    this.mode = "socket";
    this.closed = false;
    this.failedAttempts = 0;
    this.timers = {};
    this.lastTypingAt = 0;
    this.readSent = 0;
  }

  Channel.prototype.on = function (name, fn) {
    (this.listeners[name] = this.listeners[name] || []).push(fn);
  };

  Channel.prototype.emit = function (name, value) {
    (this.listeners[name] || []).forEach(function (fn) { fn(value); });
  };

  Channel.prototype.clearTimer = function (name) {
    window.clearTimeout(this.timers[name]);
    delete this.timers[name];
  };

  Channel.prototype.setTimer = function (name, delayMs, fn) {
    if (this.closed) {
      return;
    }
    this.clearTimer(name);
    this.timers[name] = window.setTimeout(fn, delayMs);
  };

  Channel.prototype.start = function () {
    if (typeof window.WebSocket !== "function") {
      this.startPolling();
      return;
    }
    this.emit("status", "connecting");
    this.openSocket();
  };

  // Close for good: a closed channel emits nothing more, so the replies of its long-polls, sends
  // and token requests still under way cannot reach a view, nor the channel that reopens the chat.
  Channel.prototype.close = function () {
    if (this.closed) {
      return;
    }
    this.closed = true;
    this.listeners = {};
    Object.keys(this.timers).forEach(this.clearTimer, this);
    var socket = this.socket;
    if (!socket) {
      return;
    }
    if (socket.readyState === window.WebSocket.CONNECTING) {
      // Chromium logs an error for a socket closed during its handshake, so this one closes once open.
      socket.onopen = function () { socket.close(1000); };
    } else {
      socket.close(1000);
    }
  };

  // ----- websocket -----

  Channel.prototype.openSocket = function () {
    var self = this;
    // The credential is a context token (Connect) or a single-use ticket (Forge), from the transport.
    client.socketAuth().then(function (credential) {
      if (self.closed) {
        return;
      }
      var socket;
      try {
        socket = new window.WebSocket(client.websocketUrl());
      } catch (error) {
        // Older browsers throw a SecurityError for an address that the page's CSP blocks.
        self.socketFailed();
        return;
      }
      self.socket = socket;
      self.ready = false;
      socket.onopen = function () {
        socket.send(JSON.stringify(self.authFrame(credential)));
      };
      socket.onmessage = function (event) {
        var frame;
        try {
          frame = JSON.parse(event.data);
        } catch (error) {
          return;
        }
        self.receive(frame);
      };
      socket.onclose = function (event) {
        self.socketClosed(socket, event);
      };
      // Chromium fires "error" and no "close" for an address that the page's CSP blocks.
      socket.onerror = function () {
        if (socket.readyState === window.WebSocket.CLOSED) {
          self.socketClosed(socket, {code: 1006});
        }
      };
    }, function () {
      // No credential (the ticket call failed): a socket attempt that failed, so that repeated
      // failures lead to long-polling as a closed socket does.
      self.socketFailed();
    });
  };

  Channel.prototype.sendFrame = function (frame) {
    if (this.socket && this.ready && this.socket.readyState === window.WebSocket.OPEN) {
      this.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  };

  Channel.prototype.socketReady = function (frame) {
    var self = this;
    this.ready = true;
    this.failedAttempts = 0;
    this.emit("status", "connected");
    this.sendFrame({type: "subscribe", conversation_id: this.id, after_seq: this.lastSeq});
    this.pending.forEach(function (item) { self.sendFrame(item.frame); });
    this.keepAlive();
    if (frame.reauth_before) {
      var delay = Math.max(5000, frame.reauth_before * 1000 - Date.now() - REAUTH_MARGIN_MS);
      this.setTimer("reauth", delay, function () { self.reauthenticate(); });
    }
  };

  Channel.prototype.reauthenticate = function () {
    var self = this;
    client.dropCredentials();
    client.socketAuth().then(function (credential) {
      if (self.socket && self.socket.readyState === window.WebSocket.OPEN) {
        self.socket.send(JSON.stringify(self.authFrame(credential)));
      }
    }, function () {});
  };

  // {type: "auth", token} or {type: "auth", ticket}, with the agent panel's project key.
  Channel.prototype.authFrame = function (credential) {
    var frame = {type: "auth"};
    Object.keys(credential).forEach(function (name) { frame[name] = credential[name]; });
    frame.project_key = this.projectKey;
    return frame;
  };

  Channel.prototype.keepAlive = function () {
    var self = this;
    this.setTimer("ping", PING_INTERVAL_MS, function () {
      if (self.sendFrame({type: "ping"})) {
        // No pong in time: the connection is dead even if the browser has not noticed yet.
        self.setTimer("pong", PONG_TIMEOUT_MS, function () { self.socket.close(4000); });
      }
      self.keepAlive();
    });
  };

  Channel.prototype.socketClosed = function (socket, event) {
    if (socket !== this.socket) {
      return;
    }
    var wasReady = this.ready;
    this.ready = false;
    this.socket = null;
    ["ping", "pong", "reauth"].forEach(this.clearTimer, this);
    if (this.closed) {
      return;
    }
    if (event.code === 4401) {
      client.dropCredentials();
    }
    // Not found, or no longer allowed to chat (key user removed, subscription suspended):
    // reconnecting cannot help, so the view shows the server's sentence instead.
    if (event.code === 4404 || event.code === 4403) {
      this.emit("error", {code: event.code === 4404 ? "not_found" : "forbidden", message: event.reason});
      return;
    }
    if (wasReady) {
      this.reconnectLater();
    } else {
      this.socketFailed();
    }
  };

  // Count an attempt that never reached "ready"; after SOCKET_ATTEMPTS_BEFORE_POLL of them in a
  // row, long-poll instead of trying again.
  Channel.prototype.socketFailed = function () {
    if (this.closed) {
      return;
    }
    this.failedAttempts += 1;
    if (this.failedAttempts >= SOCKET_ATTEMPTS_BEFORE_POLL) {
      this.startPolling();
      return;
    }
    this.reconnectLater();
  };

  Channel.prototype.reconnectLater = function () {
    var self = this;
    if (this.closed) {
      return;
    }
    this.attempt = (this.attempt || 0) + 1;
    var delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * Math.pow(2, this.attempt - 1));
    this.emit("status", "reconnecting");
    this.setTimer("reconnect", delay * (0.5 + Math.random() / 2), function () {
      self.openSocket();
    });
  };

  Channel.prototype.receive = function (frame) {
    if (this.closed) {
      return;
    }
    if (frame.conversation_id !== undefined && frame.conversation_id !== this.id) {
      return;
    }
    switch (frame.type) {
    case "ready":
      this.attempt = 0;
      this.socketReady(frame);
      break;
    case "pong":
      this.clearTimer("pong");
      break;
    case "message":
      this.acknowledge(frame.client_message_id);
      this.lastSeq = Math.max(this.lastSeq, frame.seq || 0);
      this.emit("message", frame);
      break;
    case "ack":
      this.acknowledge(frame.client_message_id);
      this.emit("ack", frame);
      break;
    case "error":
      this.rejectSend(frame);
      this.emit("error", frame);
      break;
    default:
      this.emit(frame.type, frame);
    }
  };

  Channel.prototype.acknowledge = function (clientMessageId) {
    if (clientMessageId) {
      this.pending = this.pending.filter(function (item) {
        return item.frame.client_message_id !== clientMessageId;
      });
    }
  };

  // An error frame that names a client_message_id rejects that send for good (invalid body, …).
  Channel.prototype.rejectSend = function (frame) {
    if (frame.client_message_id) {
      this.acknowledge(frame.client_message_id);
      this.emit("failed", frame);
    }
  };

  // ----- sending -----

  // Queue a message; it is sent now if connected, else after the next (re)connection.
  Channel.prototype.send = function (text, visibility) {
    var frame = {
      type: "send", conversation_id: this.id, client_message_id: client.newClientId(),
      body: text, visibility: visibility || "public"
    };
    this.pending.push({frame: frame});
    if (this.mode === "poll") {
      this.postPending();
    } else {
      this.sendFrame(frame);
    }
    return frame;
  };

  // Tell the others that the viewer types. With `visibility` "internal" (an agent's internal note)
  // the server sends the signal to agents only, as it does with the note itself.
  Channel.prototype.typing = function (visibility) {
    var now = Date.now();
    visibility = visibility === "internal" ? "internal" : "public";
    // A switch between a note and a reply is signalled at once, without waiting for the throttle.
    if (now - this.lastTypingAt < TYPING_THROTTLE_MS && visibility === this.lastTypingVisibility) {
      return;
    }
    this.lastTypingAt = now;
    this.lastTypingVisibility = visibility;
    if (this.mode === "poll") {
      client.api("POST", "/chats/" + this.id + "/typing", {visibility: visibility}, this.query())
        .catch(function () {});
    } else {
      this.sendFrame({type: "typing", conversation_id: this.id, visibility: visibility});
    }
  };

  // Tell the server the viewer has seen everything up to `seq` (debounced).
  Channel.prototype.markRead = function (seq) {
    var self = this;
    if (!seq || seq <= this.readSent || document.visibilityState === "hidden") {
      return;
    }
    this.setTimer("read", READ_DEBOUNCE_MS, function () {
      self.readSent = Math.max(self.readSent, seq);
      if (self.mode === "poll") {
        client.api("POST", "/chats/" + self.id + "/read", {seq: seq}, self.query()).catch(function () {});
      } else if (!self.sendFrame({type: "read", conversation_id: self.id, seq: seq})) {
        self.readSent = 0;
      }
    });
  };

  Channel.prototype.query = function () {
    return this.projectKey ? {project_key: this.projectKey} : {};
  };

  SupportChat.Channel = Channel;
})();
