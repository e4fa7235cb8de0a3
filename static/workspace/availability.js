/* The portal launcher's line on whether an agent could take a chat now (never which agent),
 * requested again every 30 s while the page is visible. */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var line = document.querySelector("[data-support-availability]");
  if (!line || !SupportChat) {
    return;
  }
  var available = null;

  function draw() {
    if (available === null) {
      return;
    }
    line.textContent = SupportChat.i18n.t(available ? "support_available" : "support_busy");
    line.classList.toggle("chat-availability--busy", !available);
    line.hidden = false;
  }

  // Agents come and go: the line is asked again at this period while the page is visible.
  var REFRESH_MS = 30000;

  function refresh() {
    if (document.visibilityState === "hidden") {
      window.setTimeout(refresh, REFRESH_MS);
      return;
    }
    SupportChat.client.api("GET", "/support/availability").then(function (data) {
      available = !!(data && data.available);
      draw();
    }, function () {
      // When the request fails, the launcher keeps its last line rather than guessing.
    }).then(function () { window.setTimeout(refresh, REFRESH_MS); });
  }

  SupportChat.i18n.onChange(draw);
  refresh();
})();
