/* The conversation on screen: the message log, who is typing, and the reply box.
 *
 * Message text is only ever set with textContent (never innerHTML), and CSS keeps its line breaks.
 * The log is an aria-live="polite" region, so screen readers announce new messages.
 * Options: {channel, role: "customer"|"agent", accountId}. Agents also see each message's Jira
 * delivery state, whether the customer is connected, and an "internal note" switch.
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var t = SupportChat.i18n.t;
  var TYPING_SHOWN_MS = 5000;

  function make(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function formatTime(iso) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) {
      return "";
    }
    var sameDay = date.toDateString() === new Date().toDateString();
    // 24-hour times in both languages, as everywhere else in the product ("23:56", not "11:56 PM").
    var options = sameDay ? {hour: "2-digit", minute: "2-digit", hourCycle: "h23"}
      : {day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23"};
    return new Intl.DateTimeFormat(SupportChat.i18n.lang(), options).format(date);
  }

  function ConversationView(root, options) {
    this.root = root;
    this.channel = options.channel;
    this.role = options.role;
    this.accountId = options.accountId;
    this.items = {};  // message id (or "local:" + client_message_id) → <li>
    this.build();
    this.listen();
  }

  // Replace the reply box by a line saying why this person can only read.
  ConversationView.prototype.readOnly = function () {
    this.form.hidden = true;
    var note = make("p", "chat-read-only", t("read_only"));
    this.form.parentNode.insertBefore(note, this.form);
  };

  ConversationView.prototype.build = function () {
    var id = "chat-" + Math.random().toString(36).slice(2, 8);
    this.status = make("p", "chat-status");
    this.presence = make("p", "chat-presence");
    this.presence.hidden = this.role !== "agent";
    // The live region wraps the list: role="log" on the <ol> itself would hide its list semantics.
    this.logRegion = make("div", "chat-log-region");
    this.logRegion.setAttribute("role", "log");
    this.logRegion.setAttribute("aria-live", "polite");
    this.logRegion.setAttribute("aria-label", t("conversation"));
    this.logRegion.setAttribute("data-chat-log", "");
    // The region scrolls, so keyboard users must be able to focus it.
    this.logRegion.tabIndex = 0;
    this.log = make("ol", "chat-log");
    this.logRegion.appendChild(this.log);
    this.empty = make("p", "chat-empty", t("empty_conversation"));
    this.typingLine = make("p", "chat-typing");
    this.typingLine.setAttribute("aria-live", "polite");

    this.form = make("form", "chat-composer");
    var label = make("label", "chat-label", t("message_label"));
    label.htmlFor = id + "-text";
    this.input = make("textarea", "chat-input");
    this.input.id = id + "-text";
    this.input.rows = 2;
    // The server rejects longer messages (addon/sync/comment_text.py MAX_MESSAGE_CHARS).
    this.input.maxLength = 10000;
    this.input.setAttribute("aria-describedby", id + "-hint");
    var hint = make("p", "chat-hint", t("composer_hint"));
    hint.id = id + "-hint";
    var actions = make("div", "chat-actions");
    if (this.role === "agent") {
      actions.appendChild(this.buildInternalSwitch(id));
    }
    this.sendButton = make("button", "chat-button chat-button--primary", t("send"));
    this.sendButton.type = "submit";
    actions.appendChild(this.sendButton);
    [label, this.input, hint, actions].forEach(this.form.appendChild, this.form);

    [this.status, this.presence, this.logRegion, this.empty, this.typingLine, this.form]
      .forEach(this.root.appendChild, this.root);
  };

  ConversationView.prototype.buildInternalSwitch = function (id) {
    var wrapper = make("div", "chat-switch");
    this.internal = make("input");
    this.internal.type = "checkbox";
    this.internal.id = id + "-internal";
    this.internal.setAttribute("role", "switch");
    this.internal.setAttribute("aria-describedby", id + "-internal-hint");
    var label = make("label", null, t("internal_note"));
    label.htmlFor = this.internal.id;
    var hint = make("span", "visually-hidden", t("internal_hint"));
    hint.id = id + "-internal-hint";
    var self = this;
    this.internal.addEventListener("change", function () {
      self.form.classList.toggle("chat-composer--internal", self.internal.checked);
    });
    [this.internal, label, hint].forEach(wrapper.appendChild, wrapper);
    return wrapper;
  };

  ConversationView.prototype.listen = function () {
    var self = this;
    var channel = this.channel;
    channel.on("status", function (state) { self.showStatus(state); });
    channel.on("message", function (payload) { self.upsert(payload); });
    channel.on("failed", function (frame) { self.markFailed(frame); });
    channel.on("sync", function (frame) { self.showSync(frame); });
    channel.on("typing", function (frame) { self.showTyping(frame); });
    channel.on("presence", function (frame) {
      self.presence.textContent = t(frame.customer_connected ? "customer_online" : "customer_offline");
      self.presence.classList.toggle("chat-presence--online", !!frame.customer_connected);
    });

    this.form.addEventListener("submit", function (event) {
      event.preventDefault();
      self.submit();
    });
    this.input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        self.submit();
      }
    });
    this.input.addEventListener("input", function () {
      if (self.input.value.trim()) {
        // While the composer writes an internal note, only other agents may see that someone types.
        channel.typing(self.internal && self.internal.checked ? "internal" : "public");
      }
    });
    document.addEventListener("visibilitychange", function () {
      channel.markRead(channel.lastSeq);
    });
  };

  ConversationView.prototype.showStatus = function (state) {
    var texts = {connecting: "connecting", reconnecting: "reconnecting", polling: "polling"};
    this.status.textContent = texts[state] ? t(texts[state]) : "";
    this.status.setAttribute("data-state", state);
    var live = document.getElementById("chat-live");
    if (live) {
      live.textContent = state === "reconnecting" || state === "polling" ? t(texts[state]) : "";
    }
  };

  ConversationView.prototype.submit = function () {
    var text = this.input.value;
    if (!text.trim()) {
      return;
    }
    var internal = !!(this.internal && this.internal.checked);
    var frame = this.channel.send(text, internal ? "internal" : "public");
    this.upsert({
      local: true, client_message_id: frame.client_message_id, body: text,
      visibility: frame.visibility, kind: "message", created_at: new Date().toISOString(),
      author: {account_id: this.accountId, role: this.role, name: null}
    });
    this.input.value = "";
    if (internal) {
      this.endInternalNote();
    }
    this.input.focus();
  };

  // Back to a reply after each note or file, so that the next one does not stay internal by mistake.
  ConversationView.prototype.endInternalNote = function () {
    if (this.internal) {
      this.internal.checked = false;
      this.form.classList.remove("chat-composer--internal");
    }
  };

  SupportChat.ConversationView = ConversationView;
  SupportChat.chatDom = {make: make, formatTime: formatTime, TYPING_SHOWN_MS: TYPING_SHOWN_MS};
})();
