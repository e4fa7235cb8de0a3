/* HTTP fallback of the live channel, used when websockets cannot be opened (proxies that strip the
 * Upgrade header, old browsers): long-poll GET /api/chats/<id>/poll?after=S&sla=V for news, and
 * POST /api/chats/<id>/messages for sends, with the same client_message_id as a websocket send.
 *
 * `sla` is the version of the SLA state the page shows (channel.slaVersion, kept by sla.js). When
 * the clock has changed since, the poll returns the current SLA frame ("sla" for agents,
 * "sla_customer" for key users) in `frames`, so no SLA change is lost between two polls.
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var client = SupportChat.client;
  var Channel = SupportChat.Channel;

  var RETRY_FIRST_MS = 1000;
  var RETRY_MAX_MS = 30000;
  // While polling, a websocket is tried again after this delay.
  var SOCKET_RETRY_MS = 120000;

  Channel.prototype.startPolling = function () {
    var self = this;
    if (this.mode === "poll" || this.closed) {
      return;
    }
    this.mode = "poll";
    this.pollFailures = 0;
    this.emit("status", "polling");
    this.poll();
    this.postPending();
    if (typeof window.WebSocket === "function") {
      this.setTimer("socket-retry", SOCKET_RETRY_MS, function () { self.leavePolling(); });
    }
  };

  // Try the websocket again; the current long-poll ends on its own and is not renewed.
  Channel.prototype.leavePolling = function () {
    if (this.closed) {
      return;
    }
    this.mode = "socket";
    this.failedAttempts = 0;
    this.openSocket();
  };

  Channel.prototype.poll = function () {
    var self = this;
    if (this.closed || this.mode !== "poll" || this.polling) {
      return;
    }
    this.polling = true;
    var path = "/chats/" + this.id + "/poll";
    var query = Object.assign({after: this.lastSeq, sla: this.slaVersion || ""}, this.query());
    client.api("GET", path, undefined, query).then(function (data) {
      self.polling = false;
      self.pollFailures = 0;
      ((data && data.messages) || []).forEach(function (payload) {
        self.receive(Object.assign({type: "message"}, payload));
      });
      ((data && data.frames) || []).forEach(function (frame) {
        if (frame.sla && frame.sla.version) {
          self.slaVersion = frame.sla.version;
        }
        self.receive(frame);
      });
      self.poll();
    }, function (error) {
      self.polling = false;
      if (error.status === 404 || error.status === 403) {
        self.emit("error", {code: error.status === 404 ? "not_found" : "forbidden", message: error.message});
        return;
      }
      self.pollFailures += 1;
      var delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * Math.pow(2, self.pollFailures - 1));
      self.setTimer("poll", delay, function () { self.poll(); });
    });
  };

  // POST every unacknowledged send, oldest first, one at a time so the server keeps their order.
  Channel.prototype.postPending = function () {
    var self = this;
    if (this.posting || this.closed || this.mode !== "poll" || !this.pending.length) {
      return;
    }
    var frame = this.pending[0].frame;
    this.posting = true;
    var payload = {body: frame.body, visibility: frame.visibility, client_message_id: frame.client_message_id};
    client.api("POST", "/chats/" + this.id + "/messages", payload, this.query()).then(function (data) {
      self.posting = false;
      var message = (data && data.message) || data || {};
      self.receive({type: "ack", client_message_id: frame.client_message_id, seq: message.seq, id: message.id});
      if (message.body !== undefined && message.seq) {
        self.receive(Object.assign({type: "message"}, message));
      }
      self.postPending();
    }, function (error) {
      self.posting = false;
      if (error.status >= 400 && error.status < 500 && error.status !== 401 && error.status !== 429) {
        self.receive({type: "error", code: error.code, message: error.message,
          client_message_id: frame.client_message_id});
        self.postPending();
        return;
      }
      self.setTimer("post", RETRY_FIRST_MS * 2, function () { self.postPending(); });
    });
  };
})();
