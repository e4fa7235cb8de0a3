/* The site settings form of the settings pages: loads /api/admin/settings and saves changes.
 * While the support e-mail is empty, a hint explains that refused customers will see no address. */
(function () {
  "use strict";

  var section = document.querySelector("[data-site-settings]");
  if (!section) {
    return;
  }
  var client = window.SupportChat.client;
  var t = window.SupportChat.i18n.t;
  var form = section.querySelector("[data-site-settings-form]");
  var status = section.querySelector("[data-site-settings-status]");
  var emailHint = section.querySelector("[data-settings-email-missing]");
  var deskSelect = form.elements.service_desk_id;
  var typeSelect = form.elements.request_type_id;

  function showEmailHint() {
    var email = form.elements.support_email;
    var missing = !email.value.trim();
    emailHint.hidden = !missing;
    if (missing) {
      email.setAttribute("aria-describedby", emailHint.id);
    } else {
      email.removeAttribute("aria-describedby");
    }
  }

  function option(value, label, selected) {
    var node = document.createElement("option");
    node.value = value;
    node.textContent = label;
    node.selected = !!selected;
    return node;
  }

  function fill(data) {
    var settings = data.settings || {};
    deskSelect.textContent = "";
    (data.service_desks || []).forEach(function (desk) {
      deskSelect.appendChild(option(desk.id, desk.name + " (" + desk.id + ")", desk.id === settings.service_desk_id));
    });
    var keep = typeSelect.options[0];
    typeSelect.textContent = "";
    typeSelect.appendChild(keep);
    (data.request_types || []).forEach(function (type) {
      typeSelect.appendChild(option(type.id, type.name, type.id === settings.request_type_id));
    });
    form.elements.product_areas.value = (settings.product_areas || []).join("\n");
    form.elements.comment_batch_window_secs.value = settings.comment_batch_window_secs;
    form.elements.support_email.value = settings.support_email || "";
    showEmailHint();
  }

  function load(query) {
    status.textContent = t("loading");
    return client.api("GET", "/admin/settings", undefined, query).then(function (data) {
      status.textContent = "";
      fill(data);
    }, function (error) {
      status.textContent = error.message;
    });
  }

  form.elements.support_email.addEventListener("input", showEmailHint);

  deskSelect.addEventListener("change", function () {
    load({service_desk_id: deskSelect.value});
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var payload = {
      service_desk_id: deskSelect.value || null,
      request_type_id: typeSelect.value || null,
      product_areas: form.elements.product_areas.value.split("\n").map(function (line) {
        return line.trim();
      }).filter(Boolean),
      comment_batch_window_secs: parseInt(form.elements.comment_batch_window_secs.value, 10),
      support_email: form.elements.support_email.value.trim() || null
    };
    client.api("PUT", "/admin/settings", payload).then(function () {
      status.textContent = t("settings_saved");
    }, function (error) {
      status.textContent = error.message;
    });
  });

  window.SupportChat.i18n.ready().then(function () { load(); });
})();
