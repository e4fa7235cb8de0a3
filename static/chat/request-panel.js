/* The portal's request panel: the chat of this request, or nothing (a zero-height frame) when the
 * request was not opened by chat or the viewer may not see its chat. */
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

  function load(issueKey) {
    if (started || !issueKey) {
      return;
    }
    started = true;
    SupportChat.client.api("GET", "/chats/by-issue/" + encodeURIComponent(issueKey)).then(function (data) {
      content.hidden = false;
      SupportChat.openConversation(root, SupportChat.conversationOf(data), "customer", null);
    }, function (error) {
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
