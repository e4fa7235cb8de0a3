/* The site settings form of the settings pages: loads /api/admin/settings and saves changes.
 * While the support e-mail is empty, a hint explains that refused customers will see no address.
 * The two status settings of the solution workflow offer the site's statuses, listed by Jira.
 * The outcome of a load or a save shows below the save button: results in the status line,
 * errors in the alert line. */
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
  var alertLine = section.querySelector("[data-site-settings-error]");
  var emailHint = section.querySelector("[data-settings-email-missing]");
  var deskSelect = form.elements.service_desk_id;
  var typeSelect = form.elements.request_type_id;
  var statusSelects = [form.elements.solution_status, form.elements.reopen_status];

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

  function say(text, isError) {
    status.textContent = isError ? "" : text;
    alertLine.textContent = isError ? text : "";
    alertLine.hidden = !isError;
  }

  function option(value, label, selected) {
    var node = document.createElement("option");
    node.value = value;
    node.textContent = label;
    node.selected = !!selected;
    return node;
  }

  /* Offer the site's statuses after the "default" option. A setting names a status or gives its
   * id, and the add-on compares it without case, so this does too. A stored value that Jira no
   * longer lists stays as an option of its own, so that saving the form never drops it. */
  function fillStatuses(select, statuses, current) {
    var keep = select.options[0];
    var wanted = (current || "").trim().toLowerCase();
    var found = false;
    select.textContent = "";
    select.appendChild(keep);
    keep.selected = !wanted;
    statuses.forEach(function (status) {
      var matches = !!wanted && (status.name.toLowerCase() === wanted || status.id === wanted);
      found = found || matches;
      select.appendChild(option(status.name, status.name, matches));
    });
    if (wanted && !found) {
      select.appendChild(option(current, current, true));
    }
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
    statusSelects.forEach(function (select) {
      fillStatuses(select, data.statuses || [], settings[select.name]);
    });
    form.elements.solution_resolution.value = settings.solution_resolution || "";
  }

  function load(query) {
    say(t("loading"));
    return client.api("GET", "/admin/settings", undefined, query).then(function (data) {
      say("");
      fill(data);
    }, function (error) {
      say(error.message, true);
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
      support_email: form.elements.support_email.value.trim() || null,
      solution_status: form.elements.solution_status.value || null,
      solution_resolution: form.elements.solution_resolution.value.trim() || null,
      reopen_status: form.elements.reopen_status.value || null
    };
    say("");
    client.api("PUT", "/admin/settings", payload).then(function () {
      say(t("settings_saved"));
    }, function (error) {
      say(error.message, true);
    });
  });

  window.SupportChat.i18n.ready().then(function () { load(); });
})();
