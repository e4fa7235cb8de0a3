/* The site settings form of the settings pages: loads /api/admin/settings and saves changes. */
(function () {
  "use strict";

  var section = document.querySelector("[data-site-settings]");
  if (!section) {
    return;
  }
  var client = window.SupportChat.client;
  var form = section.querySelector("[data-site-settings-form]");
  var status = section.querySelector("[data-site-settings-status]");
  var texts = section.querySelector("[data-site-settings-texts]").dataset;
  var deskSelect = form.elements.service_desk_id;
  var typeSelect = form.elements.request_type_id;

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
    window.SupportChat.resize();
  }

  function load(query) {
    status.textContent = texts.loading;
    return client.api("GET", "/admin/settings", undefined, query).then(function (data) {
      status.textContent = "";
      fill(data);
    }, function (error) {
      status.textContent = error.message;
    });
  }

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
      status.textContent = texts.saved;
    }, function (error) {
      status.textContent = error.message;
    });
  });

  load();
})();
