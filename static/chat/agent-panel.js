/* The agent's issue glance: the live conversation of the issue, with notes and delivery states. */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var root = document.querySelector("[data-chat-root]");
  if (!root) {
    return;
  }
  var issueKey = root.getAttribute("data-issue-key");
  var projectKey = root.getAttribute("data-project-key") || null;
  var loading = root.querySelector("[data-chat-loading]");
  var opened = null;

  function fail(message) {
    loading.removeAttribute("data-i18n");
    loading.textContent = message;
    loading.classList.add("chat-error");
    SupportChat.resize();
  }

  if (!issueKey) {
    fail(SupportChat.i18n.t("load_failed"));
    return;
  }

  SupportChat.client.api("GET", "/chats/by-issue/" + encodeURIComponent(issueKey), undefined,
    projectKey ? {project_key: projectKey} : {}).then(function (data) {
    loading.remove();
    var conversation = SupportChat.conversationOf(data);
    opened = SupportChat.openConversation(root, conversation, "agent", projectKey);
    SupportChat.scopeFlag.attach(root, conversation, projectKey);
  }, function (error) {
    fail(error.message || SupportChat.i18n.t("load_failed"));
  });

  // Jira loads the glance's iframe before the agent opens it; on opening, size it and focus the reply.
  if (window.AP && window.AP.events) {
    window.AP.events.on("ISSUE_GLANCE_OPENED", function () {
      SupportChat.resize();
      if (opened) {
        opened.view.input.focus();
      }
    });
  }
})();
