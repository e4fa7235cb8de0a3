/* Opening a conversation in a container: its live channel and its view, wired together. */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;

  function resize() {
    if (window.AP && typeof window.AP.resize === "function") {
      window.AP.resize();
    }
  }

  // Show `conversation` (an API conversation object) in `container`; return its channel.
  // `role` is "customer" or "agent"; agents pass the project key of the page, which the server
  // needs to check their agent permission.
  function openConversation(container, conversation, role, projectKey) {
    var channel = new SupportChat.Channel(conversation.id, {projectKey: projectKey});
    var view = new SupportChat.ConversationView(container, {
      channel: channel,
      role: role,
      accountId: document.body.getAttribute("data-account-id") || null
    });
    if (SupportChat.solution) {
      // Before the messages are drawn, so that the proposed one shows its buttons.
      SupportChat.solution.attach(view, conversation, role);
    }
    if (SupportChat.unread) {
      // Before the messages are drawn, so that the first unread one gets its separator.
      SupportChat.unread.attach(view, conversation, role);
    }
    if (SupportChat.transcript) {
      SupportChat.transcript.attach(view, conversation, role, projectKey);
    }
    if (SupportChat.attachments) {
      // Before the messages are drawn, so that their files show as thumbnails and links.
      SupportChat.attachments.attach(view, conversation, role);
    }
    (conversation.messages || []).forEach(function (payload) {
      channel.lastSeq = Math.max(channel.lastSeq, payload.seq || 0);
      view.upsert(payload);
    });
    if (conversation.can_write === false) {
      // Participants who did not open the chat read it; the server refuses their messages anyway.
      view.readOnly();
    }
    if (SupportChat.sla) {
      SupportChat.sla.attach(view, conversation, role);
    }
    if (SupportChat.moves) {
      // After readOnly, which the move box keeps: it hides the reply box only when a move closes the chat.
      SupportChat.moves.attach(view, conversation, role, projectKey);
    }
    if (SupportChat.canned) {
      // Agents type "/" and a shortcut in the reply box for the team's saved replies.
      SupportChat.canned.attach(view, conversation, role, projectKey);
    }
    channel.on("message", resize);
    channel.on("error", function (frame) {
      if (frame.code === "not_found" || frame.code === "forbidden" || frame.status === 403 || frame.status === 4403) {
        view.showStatus("error");
        view.status.textContent = frame.message || SupportChat.i18n.t("load_failed");
      }
    });
    channel.start();
    resize();
    return {channel: channel, view: view};
  }

  // The conversation object of an API response, which may wrap it as {conversation: {...}}.
  // Messages sent beside it ({conversation, messages}) are kept on it.
  function conversationOf(data) {
    var conversation = (data && data.conversation) || data || {};
    if (!conversation.messages && data && Array.isArray(data.messages)) {
      conversation.messages = data.messages;
    }
    return conversation;
  }

  SupportChat.openConversation = openConversation;
  SupportChat.conversationOf = conversationOf;
  SupportChat.resize = resize;
})();
