/* The "Transcript" button of a chat: opens the printable transcript (GET /api/chats/<id>/transcript).
 *
 * The API needs the chat's credential (a context JWT, or the FIT that requestRemote adds on a Forge
 * page), which a plain link cannot send. The button therefore opens an empty window during the
 * click (browsers allow a popup only then), fetches the page through the client's transport and
 * shows it in that window from a blob: URL. The server decides what the transcript contains: with
 * internal notes for agents, public entries only for everyone else. When the browser blocks the
 * window, a download link to the same file is shown instead.
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var t = SupportChat.i18n.t;
  var make = SupportChat.chatDom.make;
  // A blob: URL is released this long after the window opened it.
  var REVOKE_AFTER_MS = 60000;

  function fetchTranscript(conversation, projectKey) {
    var client = SupportChat.client;
    return SupportChat.i18n.ready().then(function () {
      var params = new URLSearchParams(projectKey ? {project_key: projectKey} : {});
      params.set("lang", SupportChat.i18n.lang());
      return client.download("/api/chats/" + conversation.id + "/transcript?" + params.toString(), {Accept: "text/html"});
    }).then(function (response) {
      if (!response.ok) {
        throw new Error(t("transcript_failed"));
      }
      return response.blob();
    });
  }

  function attach(view, conversation, role, projectKey) {
    if (!conversation || !conversation.id) {
      return;
    }
    var bar = make("p", "chat-transcript");
    var button = make("button", "chat-button chat-button--subtle", t("transcript_open"));
    button.type = "button";
    button.setAttribute("data-action-transcript", "");
    var note = make("span", "chat-transcript-note");
    note.setAttribute("role", "status");
    bar.appendChild(button);
    bar.appendChild(note);
    view.root.insertBefore(bar, view.logRegion);

    button.addEventListener("click", function () {
      var opened = window.open("", "_blank");
      note.textContent = t("loading");
      button.disabled = true;
      fetchTranscript(conversation, role === "agent" ? projectKey : null).then(function (blob) {
        var url = URL.createObjectURL(blob);
        note.textContent = "";
        if (opened && !opened.closed) {
          opened.location.href = url;
        } else {
          var link = make("a", "chat-transcript-link", t("transcript_download"));
          link.href = url;
          link.download = "transcript-" + (conversation.issue_key || conversation.id) + ".html";
          note.appendChild(link);
          return;
        }
        window.setTimeout(function () { URL.revokeObjectURL(url); }, REVOKE_AFTER_MS);
      }).then(null, function (error) {
        if (opened && !opened.closed) {
          opened.close();
        }
        note.textContent = error.message || t("transcript_failed");
      }).then(function () {
        button.disabled = false;
        SupportChat.resize();
      });
    });
    SupportChat.i18n.onChange(function () {
      button.textContent = t("transcript_open");
    });
  }

  SupportChat.transcript = {attach: attach};
})();
