/* The subscription screens of the settings pages (templates/panels/admin_settings.html).
 *
 * Lists the service desk's organisations with their subscription state, edits one subscription
 * (form, activate, suspend, renew), manages its key users (search among the organisation's
 * customers, add, remove), imports a CSV file and shows the audit log. Every call goes to
 * /api/admin with a context token (static/chat/client.js); the server checks that the viewer is
 * a support lead. Everything a user typed, and every name from Jira, reaches the page through
 * textContent, never as HTML. The texts are in templates/panels/admin_strings.html; the first
 * calls wait until the page's language is settled, and a later switch redraws what they drew.
 * Each outcome shows right below the control that caused it ([data-admin-outcome]): a result in
 * its status line, an error in its alert line. A new outcome empties every other outcome line, so
 * no earlier success stays on the page beside a new error.
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var root = document.querySelector("[data-admin]");
  if (!root || !SupportChat || !SupportChat.client) {
    return;
  }
  var t = SupportChat.i18n.t;
  var api = SupportChat.client.api;
  var AUDIT_PAGE_SIZE = 20;

  var state = {organizationId: null, organization: null, subscription: null, auditPage: 1, auditTotal: 0};
  var pendingStatus = null;

  function $(selector) {
    return root.querySelector(selector);
  }

  // Empty every outcome line of the page.
  function clearOutcomes() {
    window.clearTimeout(pendingStatus);
    root.querySelectorAll("[data-admin-outcome]").forEach(function (outcome) {
      outcome.querySelector("[role='status']").textContent = "";
      var alert = outcome.querySelector("[role='alert']");
      alert.textContent = "";
      alert.hidden = true;
    });
  }

  // Show `text` below the control of outcome `name`: in its alert line when `isError`, else in
  // its status line.
  function report(name, text, isError) {
    clearOutcomes();
    var outcome = root.querySelector("[data-admin-outcome='" + name + "']");
    if (isError) {
      var alert = outcome.querySelector("[role='alert']");
      alert.textContent = text;
      alert.hidden = false;
      return;
    }
    // Set after a pause, so that screen readers announce a repeated sentence again.
    pendingStatus = window.setTimeout(function () {
      outcome.querySelector("[role='status']").textContent = text;
    }, 50);
  }

  // Return a rejection handler that shows the error below the control of outcome `name`.
  function failed(name) {
    return function (error) {
      report(name, error && error.message ? error.message : t("network_error"), true);
    };
  }

  function element(tag, text, attributes) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    return node;
  }

  function button(label, onClick, ariaLabel) {
    var node = element("button", label, {type: "button", "class": "chat-button"});
    if (ariaLabel) {
      node.setAttribute("aria-label", ariaLabel);
    }
    node.addEventListener("click", onClick);
    return node;
  }

  function orgPath(suffix) {
    return "/admin/organizations/" + encodeURIComponent(state.organizationId) + suffix;
  }

  // ----- organisations -----

  function loadOrganizations() {
    var list = $("[data-admin-orgs]");
    return api("GET", "/admin/organizations").then(function (data) {
      list.textContent = "";
      data.organizations.forEach(function (organization) {
        var item = element("li");
        // The name and its state stay apart in the text too: a hidden full stop makes screen
        // readers pause between them, and the state is drawn as a badge after a gap.
        var label = item.appendChild(element("span", null, {"class": "admin-org"}));
        label.appendChild(element("span", organization.name, {"class": "admin-org-name"}));
        label.appendChild(element("span", ". ", {"class": "visually-hidden"}));
        label.appendChild(element("span", t("admin_state_" + organization.state), {"class": "admin-state"}));
        item.appendChild(button(t("admin_manage", {name: ""}).trim(), function () {
          openSubscription(organization);
        }, t("admin_manage", {name: organization.name})));
        list.appendChild(item);
      });
      list.setAttribute("aria-busy", "false");
    }, failed("organizations"));
  }

  // ----- one subscription -----

  function fillForm(subscription) {
    var form = $("[data-admin-form]");
    ["contract_reference", "starts_on", "ends_on", "sla_tier", "presented_on", "seat_limit"].forEach(function (name) {
      var value = subscription ? subscription[name] : null;
      form.elements[name].value = value === null || value === undefined ? "" : value;
    });
    if (!subscription) {
      form.elements.sla_tier.value = "standard";
    }
    var covered = subscription ? subscription.product_areas : [];
    root.querySelectorAll("[data-admin-areas] input").forEach(function (box) {
      box.checked = covered.indexOf(box.value) !== -1;
    });
    form.elements.main_contact_account_id.value = subscription && subscription.main_contact_account_id || "";
  }

  // The texts about the open subscription: its heading, its state and its key users.
  function describeSubscription(subscription) {
    var line = subscription
      ? t("admin_state_line", {state: t("admin_state_" + (subscription.state || subscription.status)),
                               issue: subscription.activation_issue_key || t("admin_none")})
      : t("admin_state_none");
    $("[data-admin-sub-state]").textContent = line;
    $("[data-admin-sub-title]").textContent = t("admin_subscription_of", {name: state.organization.name});
    showKeyUsers(subscription ? subscription.key_users : []);
  }

  function showSubscription(subscription) {
    state.subscription = subscription;
    fillForm(subscription);
    describeSubscription(subscription);
    var exists = Boolean(subscription);
    $("[data-admin-activate]").disabled = !exists || subscription.status === "active";
    $("[data-admin-suspend]").disabled = !exists || subscription.status === "suspended";
    // An active subscription whose activation request failed can be presented again.
    $("[data-admin-present]").hidden = !exists || subscription.status !== "active" ||
      Boolean(subscription.activation_issue_key);
    $("[data-admin-renew] button").disabled = !exists;
    $("[data-admin-search] button").disabled = !exists;
  }

  function loadContacts() {
    var select = $("[data-admin-form]").elements.main_contact_account_id;
    return api("GET", orgPath("/customers")).then(function (data) {
      select.textContent = "";
      select.appendChild(element("option", t("admin_no_contact"), {value: ""}));
      data.customers.forEach(function (customer) {
        select.appendChild(element("option", customer.display_name + (customer.email ? " <" + customer.email + ">" : ""),
          {value: customer.account_id}));
      });
    });
  }

  function openSubscription(organization) {
    state.organizationId = organization.id;
    state.organization = organization;
    state.subscription = null;
    $("[data-admin-subscription]").hidden = false;
    $("[data-admin-results]").textContent = "";
    var title = $("[data-admin-sub-title]");
    title.textContent = t("loading");
    loadContacts().then(function () {
      if (organization.state === "none") {
        return null;
      }
      return api("GET", orgPath("/subscription")).then(function (data) { return data.subscription; });
    }).then(function (subscription) {
      // The heading changes only once the form is filled, so nobody types into a form about to be reset.
      showSubscription(subscription);
      title.focus();
    }, failed("organizations"));
  }

  // Return a success handler that redraws the subscription and reports `message` below the
  // control of outcome `name`.
  function afterChange(name, message) {
    return function (data) {
      showSubscription(data.subscription);
      report(name, message);
      loadOrganizations();
      loadAudit(1);
    };
  }

  function formFields(form) {
    var areas = [];
    root.querySelectorAll("[data-admin-areas] input:checked").forEach(function (box) { areas.push(box.value); });
    return {
      contract_reference: form.elements.contract_reference.value.trim(),
      starts_on: form.elements.starts_on.value || null,
      ends_on: form.elements.ends_on.value || null,
      sla_tier: form.elements.sla_tier.value.trim(),
      product_areas: areas,
      main_contact_account_id: form.elements.main_contact_account_id.value || null,
      presented_on: form.elements.presented_on.value || null,
      seat_limit: form.elements.seat_limit.value || null
    };
  }

  // ----- key users -----

  function showKeyUsers(keyUsers) {
    var list = $("[data-admin-keyusers]");
    list.textContent = "";
    if (!keyUsers.length) {
      list.appendChild(element("li", t("admin_no_key_users")));
    }
    keyUsers.forEach(function (keyUser) {
      var name = keyUser.display_name || keyUser.account_id;
      var item = element("li");
      var who = element("span", name + (keyUser.email ? " <" + keyUser.email + ">" : ""));
      who.appendChild(element("span", " — " + addedText(keyUser), {"class": "admin-added"}));
      item.appendChild(who);
      item.appendChild(button(t("admin_remove", {name: ""}).trim(), function () {
        api("DELETE", orgPath("/key-users/" + encodeURIComponent(keyUser.account_id)))
          .then(afterChange("key-users", t("admin_key_user_removed", {name: name})), failed("key-users"));
      }, t("admin_remove", {name: name})));
      list.appendChild(item);
    });
  }

  // "added on <day> by <name>", with the accountId when Jira returns no name.
  function addedText(keyUser) {
    var day = new Date(keyUser.added_at).toLocaleDateString(SupportChat.i18n.lang());
    var by = keyUser.added_by_display_name || keyUser.added_by_account_id;
    return by ? t("admin_key_user_added_by", {date: day, name: by}) : t("admin_key_user_added_on", {date: day});
  }

  function showResults(customers) {
    var list = $("[data-admin-results]");
    list.textContent = "";
    customers.forEach(function (customer) {
      var item = element("li");
      item.appendChild(element("span", customer.display_name + (customer.email ? " <" + customer.email + ">" : "")));
      item.appendChild(button(t("admin_add", {name: ""}).trim(), function () {
        api("POST", orgPath("/key-users"), {account_id: customer.account_id}).then(function (data) {
          list.textContent = "";
          afterChange("key-users", t("admin_key_user_added", {name: customer.display_name}))(data);
        }, failed("key-users"));
      }, t("admin_add", {name: customer.display_name})));
      list.appendChild(item);
    });
    var found = customers.length === 1 ? t("admin_results_one") : t("admin_results", {count: customers.length});
    report("key-users", customers.length ? found : t("admin_no_results"));
  }

  // ----- CSV import -----

  // Send the CSV `file`; show the outcome below the import button and the failing lines below it.
  function importFile(file) {
    var lines = $("[data-admin-report]");
    lines.textContent = "";
    report("import", t("loading"));
    var lang = SupportChat.i18n.lang();
    // A multipart upload through the client's transport: fetch on Connect, requestRemote on Forge.
    var form = new FormData();
    form.append("file", file);
    SupportChat.client.upload("/api/admin/import?lang=" + encodeURIComponent(lang), form,
                              {Accept: "application/json"}).then(function (response) {
      return response.json().then(function (data) {
        if (data.report && data.report.imported) {
          report("import", t("admin_import_ok", {created: data.report.created.length,
            updated: data.report.updated.length, added: data.report.key_users_added}));
          lines.appendChild(importActivations(data.report.activations || []));
          loadOrganizations();
          loadAudit(1);
        } else if (data.report) {
          report("import", SupportChat.i18n.plural("admin_import_failed", data.report.errors.length), true);
          lines.appendChild(importErrors(data.report.errors));
        } else {
          report("import", (data.error && data.error.message) || t("network_error"), true);
        }
      });
    }).catch(function () {
      report("import", t("network_error"), true);
    });
  }

  // Per subscription the import activated: the activation request opened, or why it failed.
  function importActivations(activations) {
    var list = element("ul");
    activations.forEach(function (activation) {
      var text = activation.issue_key
        ? t("admin_import_presented", {organization: activation.organization_name, issue: activation.issue_key})
        : t("admin_import_present_failed", {organization: activation.organization_name,
                                            error: activation.error || ""});
      list.appendChild(element("li", text));
    });
    return list;
  }

  // The failing lines of an import, each with every problem the server found on it.
  function importErrors(errors) {
    var list = element("ul");
    errors.forEach(function (error) {
      var problems = error.messages && error.messages.length ? error.messages : [error.message];
      var item = element("li", t("admin_import_line", {line: error.line, message: problems.length === 1 ? problems[0] : ""}).trim());
      if (problems.length > 1) {
        var details = element("ul");
        problems.forEach(function (problem) { details.appendChild(element("li", problem)); });
        item.appendChild(details);
      }
      list.appendChild(item);
    });
    return list;
  }

  // ----- audit log -----

  // The entry in the viewer's language when the page has a text for its action, else the stored
  // summary. People appear by their Jira display name, else by their accountId.
  function describe(entry) {
    var key = "admin_action_" + entry.action;
    var details = entry.details || {};
    var text = t(key, {organization: details.organization_name || "",
                       account: entry.account_display_name || details.account_id || "",
                       issue: details.issue_key || "", error: details.error || "", created: details.created, updated: details.updated,
                       settings: (details.changed || []).join(", ")});
    return text === key ? entry.summary : text;
  }

  function loadAudit(page) {
    var list = $("[data-admin-audit]");
    // Dates in the page's language, times on 24 hours in both languages like the chat's.
    var auditTime = new Intl.DateTimeFormat(SupportChat.i18n.lang(), {year: "numeric", month: "2-digit",
      day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"});
    return api("GET", "/admin/audit", undefined, {page: page, per_page: AUDIT_PAGE_SIZE}).then(function (data) {
      state.auditPage = data.page;
      state.auditTotal = data.total;
      list.textContent = "";
      if (!data.entries.length) {
        list.appendChild(element("li", t("admin_audit_empty")));
      }
      data.entries.forEach(function (entry) {
        var when = auditTime.format(new Date(entry.created_at));
        var who = entry.actor_display_name || entry.actor_account_id || t("admin_system");
        list.appendChild(element("li", t("admin_audit_entry", {when: when, who: who, what: describe(entry)})));
      });
      $("[data-admin-audit-newer]").disabled = state.auditPage <= 1;
      $("[data-admin-audit-older]").disabled = state.auditPage * AUDIT_PAGE_SIZE >= state.auditTotal;
    }, failed("audit"));
  }

  // ----- wiring -----

  $("[data-admin-form]").addEventListener("submit", function (event) {
    event.preventDefault();
    api("PUT", orgPath("/subscription"), formFields(event.target))
      .then(afterChange("save", t("admin_saved")), failed("save"));
  });
  $("[data-admin-activate]").addEventListener("click", function () {
    api("POST", orgPath("/subscription/activate")).then(afterChange("status", t("admin_activated")), failed("status"));
  });
  $("[data-admin-present]").addEventListener("click", function () {
    api("POST", orgPath("/subscription/present")).then(afterChange("status", t("admin_presented_ok")), failed("status"));
  });
  $("[data-admin-suspend]").addEventListener("click", function () {
    api("POST", orgPath("/subscription/suspend")).then(afterChange("status", t("admin_suspended")), failed("status"));
  });
  $("[data-admin-renew]").addEventListener("submit", function (event) {
    event.preventDefault();
    api("POST", orgPath("/subscription/renew"), {ends_on: event.target.elements.ends_on.value || null})
      .then(afterChange("status", t("admin_renewed")), failed("status"));
  });
  $("[data-admin-search]").addEventListener("submit", function (event) {
    event.preventDefault();
    var query = event.target.elements.query.value.trim();
    api("GET", orgPath("/customers"), undefined, {query: query}).then(function (data) {
      showResults(data.customers);
    }, failed("key-users"));
  });
  $("[data-admin-import]").addEventListener("submit", function (event) {
    event.preventDefault();
    var file = event.target.elements.file.files[0];
    if (!file) {
      $("[data-admin-report]").textContent = "";
      report("import", t("admin_choose_file"), true);
      event.target.elements.file.focus();
      return;
    }
    importFile(file);
  });
  $("[data-admin-audit-newer]").addEventListener("click", function () { loadAudit(state.auditPage - 1); });
  $("[data-admin-audit-older]").addEventListener("click", function () { loadAudit(state.auditPage + 1); });

  // The site's product areas, among which a subscription picks those it covers. The chat's
  // /start-form is for key users only, so the admin page reads them from the site settings.
  function loadProductAreas() {
    return api("GET", "/admin/settings").then(function (data) {
      var fieldset = $("[data-admin-areas]");
      ((data.settings || {}).product_areas || []).forEach(function (area, index) {
        var id = "admin-area-" + index;
        var label = element("label", null, {"for": id});
        label.appendChild(element("input", null, {type: "checkbox", id: id, value: area}));
        label.appendChild(document.createTextNode(area));
        fieldset.appendChild(label);
      });
    }, failed("save"));
  }

  // Everything below is drawn in the page's settled language; a late switch redraws it.
  SupportChat.i18n.ready().then(function () {
    loadProductAreas();
    loadOrganizations();
    loadAudit(1);
    SupportChat.i18n.onChange(function () {
      loadOrganizations();
      loadAudit(state.auditPage);
      if (state.organization && !$("[data-admin-subscription]").hidden) {
        describeSubscription(state.subscription);
      }
    });
  });
})();
