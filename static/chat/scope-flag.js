/* The agent's "Signaler hors périmètre" button above a chat: one click marks the chat as a training
 * or customisation request, which the server traces on the request (internal comment, internal
 * chat event, and a row of the add-on's database). A flagged chat shows the flag instead. */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var t = SupportChat.i18n.t;

  function attach(root, conversation, projectKey) {
    var query = projectKey ? {project_key: projectKey} : {};
    var path = "/chats/" + encodeURIComponent(conversation.id) + "/out-of-scope";
    var box = document.createElement("div");
    box.className = "scope-flag";
    box.setAttribute("data-scope-flag", "");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "chat-button chat-button--subtle";
    button.setAttribute("aria-describedby", "scope-flag-hint");
    var hint = document.createElement("span");
    hint.id = "scope-flag-hint";
    hint.className = "visually-hidden";
    var status = document.createElement("p");
    status.className = "chat-hint";
    status.setAttribute("role", "status");
    box.appendChild(button);
    box.appendChild(hint);
    box.appendChild(status);
    root.insertBefore(box, root.firstChild);

    var flagged = false;
    function draw(message) {
      button.textContent = t("scope_flag");
      hint.textContent = t("scope_flag_hint");
      button.hidden = flagged;
      status.textContent = message || (flagged ? t("scope_flagged") : "");
      SupportChat.resize();
    }

    button.addEventListener("click", function () {
      button.disabled = true;
      draw(t("scope_flagging"));
      SupportChat.client.api("POST", path, {}, query).then(function (data) {
        flagged = !!(data && data.out_of_scope && data.out_of_scope.flagged);
        button.disabled = false;
        draw();
      }, function (error) {
        button.disabled = false;
        draw(error.message);
      });
    });
    SupportChat.i18n.onChange(function () { draw(); });
    draw();
    SupportChat.client.api("GET", path, undefined, query).then(function (data) {
      flagged = !!(data && data.out_of_scope && data.out_of_scope.flagged);
      draw();
    }, function () {});
  }

  SupportChat.scopeFlag = {attach: attach};
})();
