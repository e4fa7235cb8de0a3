/* The portal launcher says whether an agent could take a chat now (never which agent). */
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

  SupportChat.i18n.onChange(draw);
  SupportChat.client.api("GET", "/support/availability").then(function (data) {
    available = !!(data && data.available);
    draw();
  }, function () {
    // Without an answer the launcher says nothing rather than something wrong.
  });
})();
