/* The limits of files in the chat on the settings pages (templates/panels/attachment_settings.html):
 * the largest size in MB and the accepted kinds, read from and saved to /api/admin/attachments. The
 * server validates them and returns any error in the page's language, shown under the button.
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var section = document.querySelector("[data-attachment-settings]");
  if (!section) {
    return;
  }
  var t = SupportChat.i18n.t;
  var client = SupportChat.client;
  var form = section.querySelector("[data-attachment-settings-form]");
  var status = section.querySelector("[data-attachment-settings-status]");
  var error = section.querySelector("[data-attachment-settings-error]");
  var MIB = 1024 * 1024;

  function report(statusText, errorText) {
    status.textContent = statusText || "";
    error.textContent = errorText || "";
    error.hidden = !errorText;
  }

  function show(limits) {
    form.elements.max_mb.value = String(Math.round(limits.max_bytes / MIB));
    Array.prototype.forEach.call(form.querySelectorAll("input[name='kinds']"), function (box) {
      box.checked = limits.kinds.indexOf(box.value) >= 0;
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var kinds = Array.prototype.filter.call(form.querySelectorAll("input[name='kinds']"), function (box) {
      return box.checked;
    }).map(function (box) { return box.value; });
    var megabytes = Number(form.elements.max_mb.value);
    report("", "");
    client.api("PUT", "/admin/attachments", {max_bytes: Math.round(megabytes * MIB), kinds: kinds}).then(function (data) {
      show(data.limits);
      report(t("attachment_settings_saved"), "");
    }, function (failure) {
      report("", t("attachment_settings_failed", {error: failure.message}));
    });
  });

  SupportChat.i18n.ready().then(function () {
    return client.api("GET", "/admin/attachments");
  }).then(function (data) {
    show(data.limits);
  }, function (failure) {
    report("", failure.message);
  });
})();
