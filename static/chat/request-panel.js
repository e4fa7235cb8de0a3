/* The portal's request panel: the chat of this request, or nothing (a zero-height frame) when the
 * request was not opened by chat or the viewer may not see its chat.
 *
 * A viewer who may read the chat but not write in it (a participant who is not a key user, or a
 * key user whose subscription ended) gets its history without live delivery, which the server
 * refuses them, and the explanation of /api/eligibility with the channels open to them. */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var root = document.querySelector("[data-chat-root]");
  var request = document.querySelector("[data-chat-request]");
  var content = document.querySelector(".ac-content");
  if (!root || !request) {
    return;
  }
  var started = false;
  var refusal = document.querySelector("[data-refusal]");

  function showRefusal(data) {
    var channels = data.channels || {};
    refusal.querySelector("[data-refusal-message]").textContent = data.message || SupportChat.i18n.t("read_only");
    // The portal form and the usage rules are always listed; the page already links the site's portals.
    if (channels.portal_url) {
      refusal.querySelector("[data-refusal-portal]").href = channels.portal_url;
    }
    var email = refusal.querySelector("[data-refusal-email]");
    refusal.querySelector("[data-refusal-email-item]").hidden = !channels.support_email;
    if (channels.support_email) {
      email.href = "mailto:" + channels.support_email;
      email.textContent = SupportChat.i18n.t("refusal_email", {email: channels.support_email});
    }
    refusal.hidden = false;
    SupportChat.resize();
  }

  // Read-only: the history once, and no live channel, which the server would refuse.
  function openReadOnly(conversation) {
    var query = {};
    var desk = request.getAttribute("data-service-desk-id");
    if (desk) {
      query.service_desk_id = desk;
    }
    SupportChat.client.api("GET", "/eligibility", undefined, query).then(showRefusal, function () {
      showRefusal({});
    });
    return SupportChat.client.api("GET", "/chats/" + conversation.id + "/messages").then(function (data) {
      conversation.messages = (data && data.messages) || [];
      var opened = SupportChat.openConversation(root, conversation, "customer", null);
      opened.channel.close();
      SupportChat.resize();
    });
  }

  function load(issueKey) {
    if (started || !issueKey) {
      return;
    }
    started = true;
    SupportChat.client.api("GET", "/chats/by-issue/" + encodeURIComponent(issueKey)).then(function (data) {
      content.hidden = false;
      var conversation = SupportChat.conversationOf(data);
      if (conversation.can_write === false) {
        return openReadOnly(conversation);
      }
      SupportChat.openConversation(root, conversation, "customer", null);
    }).then(null, function (error) {
      // 404: no chat on this request. Other failures also leave the panel empty rather than
      // showing an error under a request that may have nothing to do with the chat.
      if (error.status !== 404 && window.console) {
        window.console.warn("Support chat: loading the chat of " + issueKey + " failed: " + error.message);
      }
      SupportChat.resize();
    });
  }

  // The issue key is what the API looks up; the id alone (rare) waits for AP.context.getContext().
  load(request.getAttribute("data-request-key"));
  document.addEventListener("supportchat:request", function (event) {
    load(event.detail && event.detail.key);
  });
  SupportChat.resize();
})();
