/* Rendering of single messages in the conversation log (part of ConversationView).
 *
 * Each server message is one <li> keyed by its id; a message shown before the server acknowledged
 * it is keyed by its client_message_id and replaced in place when the server's copy arrives.
 * Server messages are ordered by `seq`; unacknowledged ones stay at the end.
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var t = SupportChat.i18n.t;
  var make = SupportChat.chatDom.make;
  var formatTime = SupportChat.chatDom.formatTime;
  var View = SupportChat.ConversationView.prototype;

  var DELIVERY_TEXT = {
    synced: "synced",
    pending: "not_synced",
    sending: "not_synced",
    failed: "not_synced",
    in_description: "in_description"
  };

  // Events the server names by type are shown in the reader's language; other events (a status
  // name of the support team's workflow) and messages show their text as stored.
  var EVENT_TEXT = {
    request_resolved: "event_request_resolved",
    request_closed: "event_request_closed",
    request_reopened: "event_request_reopened",
    solution_proposed: "event_solution_proposed",
    solution_validated: "event_solution_validated",
    solution_persists: "event_solution_persists",
    satisfaction_asked: "event_satisfaction_asked",
    moved_mail: "event_moved_mail",
    moved_appointment: "event_moved_appointment",
    moved_erp_tool: "event_moved_erp_tool",
    moved_classic_ticket: "event_moved_classic_ticket",
    appointment_confirmed: "event_appointment_confirmed",
    move_ended: "event_move_ended"
  };

  // Status changes come from Jira's workflow, so they are shown as the system's, with no author
  // and no "internal note" badge, even when the event itself is for agents only.
  var STATUS_EVENTS = {
    request_resolved: true,
    request_closed: true,
    request_reopened: true,
    status_changed: true
  };

  // The standard JSM status names, by lower-case name, to their text on screen. Other names of
  // the support team's workflow are shown as Jira gives them.
  var STATUS_TEXT = {
    "open": "status_open",
    "waiting for support": "status_waiting_for_support",
    "waiting for customer": "status_waiting_for_customer",
    "in progress": "status_in_progress",
    "pending": "status_pending",
    "escalated": "status_escalated",
    "work in progress": "status_work_in_progress",
    "canceled": "status_canceled",
    "cancelled": "status_canceled"
  };

  function statusName(name) {
    var key = STATUS_TEXT[String(name || "").trim().toLowerCase()];
    return key ? t(key) : name;
  }

  View.isStatusEvent = function (payload) {
    return payload.kind === "event" && !!STATUS_EVENTS[payload.event_type];
  };

  View.bodyText = function (payload) {
    if (payload.kind === "event" && EVENT_TEXT[payload.event_type]) {
      return t(EVENT_TEXT[payload.event_type]);
    }
    if (payload.kind === "event" && payload.event_type === "status_changed") {
      return t("event_status_changed", {status: statusName(payload.body)});
    }
    if (payload.kind === "event" && payload.event_type === "agent_joined") {
      // The body is the agent's first name (addon/workspace/claims.py).
      return t("event_agent_joined", {name: payload.body || ""});
    }

    return payload.body || "";
  };

  View.authorName = function (payload) {
    var author = payload.author || {};
    if (author.account_id && author.account_id === this.accountId) {
      return t("you");
    }
    if (author.name) {
      return author.name;
    }
    if (author.role === "agent") {
      return t("support");
    }
    return author.role === "system" ? t("system") : t("key_user");
  };

  View.deliveryText = function (payload) {
    if (payload.local) {
      return payload.failed ? t("send_failed", {error: payload.failed}) : t("waiting_send");
    }
    if (this.role !== "agent" || payload.kind === "event") {
      return "";
    }
    if (payload.origin === "jira") {
      return t("from_jira");
    }
    return DELIVERY_TEXT[payload.sync_state] ? t(DELIVERY_TEXT[payload.sync_state]) : "";
  };

  View.render = function (payload) {
    var item = make("li", "chat-message");
    var author = payload.author || {};
    item.classList.add("chat-message--" + (author.role || "system"));
    if (author.account_id && author.account_id === this.accountId) {
      item.classList.add("chat-message--mine");
    }
    if (payload.visibility === "internal" && !this.isStatusEvent(payload)) {
      item.classList.add("chat-message--internal");
    }
    if (payload.kind === "event") {
      item.classList.add("chat-message--event");
      item.setAttribute("data-event-type", payload.event_type || "");
    }
    if (payload.kind === "event" && payload.event_type === "satisfaction_asked" && this.role !== "agent") {
      // The key user answers the question in the form under the validated solution, so the log
      // does not show it a second time. Agents see it as a short event.
      item.hidden = true;
    }
    if (payload.seq) {
      item.setAttribute("data-seq", payload.seq);
    }
    if (payload.id) {
      item.setAttribute("data-message-id", payload.id);
    }
    item.setAttribute("data-visibility", payload.visibility || "public");

    var statusEvent = this.isStatusEvent(payload);
    var header = make("p", "chat-meta");
    if (!statusEvent) {
      header.appendChild(make("span", "chat-author", this.authorName(payload)));
    }
    var time = make("time", "chat-time", formatTime(payload.created_at));
    time.dateTime = payload.created_at || "";
    header.appendChild(time);
    if (payload.visibility === "internal" && !statusEvent) {
      header.appendChild(make("span", "chat-lozenge chat-lozenge--internal", t("internal_note")));
    }
    if (payload.edited_at && !payload.deleted) {
      header.appendChild(make("span", "chat-edited", t("edited")));
    }
    item.appendChild(header);

    var text = make("p", "chat-text", payload.deleted ? t("deleted") : this.bodyText(payload));
    if (payload.deleted) {
      text.classList.add("chat-text--deleted");
    }
    item.appendChild(text);

    var delivery = this.deliveryText(payload);
    if (delivery) {
      var state = make("p", "chat-delivery", delivery);
      state.setAttribute("data-sync-state", payload.local ? "local" : payload.sync_state || "");
      item.appendChild(state);
    }
    // Other modules add their parts to a message (static/chat/solution.js).
    (this.decorators || []).forEach(function (decorate) { decorate(item, payload); });
    return item;
  };

  View.placeFor = function (seq) {
    var children = this.log.children;
    for (var i = 0; i < children.length; i += 1) {
      var other = children[i];
      var otherSeq = Number(other.getAttribute("data-seq") || 0);
      if (!otherSeq || otherSeq > seq) {
        return other;
      }
    }
    return null;
  };

  // Show a new message, or update the one already shown (edits, duplicates, acknowledgements).
  View.upsert = function (payload) {
    var key = payload.local ? "local:" + payload.client_message_id : "id:" + payload.id;
    var node = this.render(payload);
    var existing = this.items[key];
    var localKey = "local:" + payload.client_message_id;
    if (!payload.local && payload.client_message_id && this.items[localKey]) {
      // The server's copy of a message shown before its acknowledgement takes its place by seq.
      this.items[localKey].remove();
      delete this.items[localKey];
    }
    if (existing) {
      existing.replaceWith(node);
    } else if (payload.local) {
      this.log.appendChild(node);
    } else {
      this.log.insertBefore(node, this.placeFor(payload.seq || 0));
    }
    this.items[key] = node;
    this.empty.hidden = this.log.children.length > 0;
    this.logRegion.scrollTop = this.logRegion.scrollHeight;
    if (!payload.local) {
      this.hideTyping(payload.author && payload.author.role);
      this.channel.markRead(this.channel.lastSeq);
    }
  };

  // Mark the local message of `frame.client_message_id` as rejected. The bubble gives the reason
  // unless `reasonShownElsewhere`, as for a file whose error shows under the composer.
  View.markFailed = function (frame, reasonShownElsewhere) {
    var node = this.items["local:" + frame.client_message_id];
    var state = node && node.querySelector(".chat-delivery");
    var reason = reasonShownElsewhere ? "" : frame.message || frame.code || "";
    if (state) {
      state.textContent = reason ? t("send_failed", {error: reason}) : t("not_sent");
      state.setAttribute("data-sync-state", "rejected");
      node.classList.add("chat-message--rejected");
    }
  };

  View.showSync = function (frame) {
    var self = this;
    (frame.message_ids || []).forEach(function (id) {
      var node = self.items["id:" + id];
      var state = node && node.querySelector(".chat-delivery");
      if (state && DELIVERY_TEXT[frame.sync_state]) {
        state.textContent = t(DELIVERY_TEXT[frame.sync_state]);
        state.setAttribute("data-sync-state", frame.sync_state);
      }
    });
  };

  View.showTyping = function (frame) {
    var self = this;
    if (frame.role === this.role) {
      return;
    }
    var name = frame.name || (frame.role === "agent" ? t("support") : t("key_user"));
    this.typingLine.textContent = t("typing", {name: name});
    this.typingRole = frame.role;
    window.clearTimeout(this.typingTimer);
    this.typingTimer = window.setTimeout(function () { self.hideTyping(); }, SupportChat.chatDom.TYPING_SHOWN_MS);
  };

  View.hideTyping = function (role) {
    if (!role || role === this.typingRole) {
      this.typingLine.textContent = "";
      this.typingRole = null;
    }
  };
})();
