/* The ERP tool and the appointment length on the settings pages (templates/panels/move_settings.html),
 * read from and saved to /api/admin/moves. The server checks that the link is https and returns
 * an error in the page's language, shown under the button. An empty name clears the tool.
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var section = document.querySelector("[data-move-settings]");
  if (!section) {
    return;
  }
  var t = SupportChat.i18n.t;
  var client = SupportChat.client;
  var form = section.querySelector("[data-move-settings-form]");
  var status = section.querySelector("[data-move-settings-status]");
  var error = section.querySelector("[data-move-settings-error]");
  var FIELDS = ["name", "message_fr", "message_en", "link"];

  function report(statusText, errorText) {
    status.textContent = statusText || "";
    error.textContent = errorText || "";
    error.hidden = !errorText;
  }

  function show(data) {
    var tool = data.erp_tool || {};
    FIELDS.forEach(function (name) {
      form.elements[name].value = tool[name] || "";
    });
    form.elements.appointment_minutes.value = String(data.appointment_minutes || 60);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var tool = null;
    if (form.elements.name.value.trim()) {
      tool = {};
      FIELDS.forEach(function (name) {
        tool[name] = form.elements[name].value.trim() || null;
      });
    }
    report("", "");
    client.api("PUT", "/admin/moves", {
      erp_tool: tool, appointment_minutes: parseInt(form.elements.appointment_minutes.value, 10)
    }).then(function (data) {
      show(data);
      report(t("move_settings_saved"), "");
    }, function (failure) {
      report("", failure.message);
    });
  });

  client.api("GET", "/admin/moves").then(show, function (failure) {
    report("", failure.message);
  });
})();
