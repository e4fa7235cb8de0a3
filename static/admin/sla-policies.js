/* The SLA settings of the settings pages, part 2: the policy of each subscription tier, the
 * priority of each impact and the statuses that wait for the customer.
 *
 * The three are saved together through PUT /api/admin/sla, so that a policy and the impact
 * mapping that depends on it change at once. Uses the helpers of sla-settings.js
 * (SupportChat.slaSettings), which also loads the data.
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var ui = SupportChat.slaSettings;
  var form = document.querySelector("[data-sla-policies-form]");
  if (!ui || !form) {
    return;
  }
  var t = SupportChat.i18n.t;
  var make = ui.make;
  var label = ui.label;
  var tiersBox = form.querySelector("[data-sla-tiers]");
  var newTier = form.querySelector("#sla-new-tier");
  var WHOLE = /^\d+$/;
  var ESCALATION_FLAGS = [
    ["internal_comment", "sla_escalation_comment"],
    ["breached_property", "sla_escalation_property"],
    ["panel_alert", "sla_escalation_panel"]
  ];
  var state = {priorities: [], defaultTier: "standard", impacts: []};

  function checkbox(key, params, checked) {
    var wrapper = make("div", "chat-switch");
    var input = make("input", null, {type: "checkbox"});
    input.id = ui.nextId("check");
    input.checked = !!checked;
    var caption = label(make("label"), key, params);
    caption.htmlFor = input.id;
    wrapper.appendChild(input);
    wrapper.appendChild(caption);
    return {box: wrapper, control: input};
  }

  function numberInput(value, min, max) {
    var input = make("input", null, {type: "number", min: String(min), step: "1", inputmode: "numeric"});
    if (max) {
      input.max = String(max);
    }
    input.value = value === undefined || value === null ? "" : String(value);
    return input;
  }

  function prioritySelect(value, emptyKey) {
    var select = make("select");
    if (emptyKey) {
      label(select.appendChild(make("option", null, {value: ""})), emptyKey);
    }
    var names = state.priorities.slice();
    if (value && names.indexOf(value) < 0) {
      names.push(value);
    }
    names.forEach(function (name) {
      var option = select.appendChild(make("option"));
      option.value = name;
      option.textContent = name;
    });
    select.value = value || "";
    return select;
  }

  // One number input per priority, in a fieldset: minutes of one response window.
  function windowsBox(tier, kind, windows, legendKey) {
    var box = make("fieldset", "chat-field sla-windows", {"data-sla-windows": kind});
    label(box.appendChild(make("legend")), legendKey);
    var grid = box.appendChild(make("div", "sla-grid"));
    state.priorities.forEach(function (priority) {
      var input = numberInput((windows || {})[priority], 1);
      input.setAttribute("data-priority", priority);
      var item = ui.field(input, "sla_priority_minutes", {priority: priority});
      grid.appendChild(item.box);
    });
    return box;
  }

  function tierBox(tier, policy) {
    var isDefault = tier === state.defaultTier;
    var escalation = policy.escalation || {};
    var box = make("fieldset", "sla-tier", {"data-sla-field": "policies." + tier, "data-tier": tier});
    label(box.appendChild(make("legend")), "sla_tier_legend", {tier: tier});
    if (isDefault) {
      label(box.appendChild(make("p", "chat-hint")), "sla_tier_default_note");
    }
    box.appendChild(make("p", "chat-field-error", {hidden: ""}));

    box.appendChild(windowsBox(tier, "first", policy.first_response_minutes, "sla_first_response"));
    var next = checkbox("sla_next_toggle", null, !!policy.next_response_minutes);
    next.control.setAttribute("data-sla-next-toggle", "");
    box.appendChild(next.box);
    var nextBox = box.appendChild(windowsBox(tier, "next", policy.next_response_minutes || policy.first_response_minutes,
      "sla_next_response"));
    nextBox.hidden = !next.control.checked;
    next.control.addEventListener("change", function () { nextBox.hidden = !next.control.checked; });

    var warning = ui.field(numberInput(policy.warning_percent, 1, 99), "sla_warning_percent");
    warning.control.setAttribute("data-sla-warning", "");
    box.appendChild(warning.box);
    var pause = checkbox("sla_pause", null, policy.pause_while_waiting_for_customer !== false);
    pause.control.setAttribute("data-sla-pause", "");
    box.appendChild(pause.box);

    var actions = box.appendChild(make("fieldset", "chat-field sla-escalation"));
    label(actions.appendChild(make("legend")), "sla_escalation");
    ESCALATION_FLAGS.forEach(function (flag) {
      var item = checkbox(flag[1], null, escalation[flag[0]] !== false);
      item.control.setAttribute("data-sla-flag", flag[0]);
      actions.appendChild(item.box);
    });
    var accounts = make("input", null, {type: "text", autocomplete: "off", spellcheck: "false", "data-sla-notify": "accounts"});
    accounts.value = (escalation.notify_account_ids || []).join(", ");
    actions.appendChild(ui.field(accounts, "sla_notify_accounts").box);
    var groups = make("input", null, {type: "text", autocomplete: "off", "data-sla-notify": "groups"});
    groups.value = (escalation.notify_groups || []).join(", ");
    actions.appendChild(ui.field(groups, "sla_notify_groups").box);
    var raise = prioritySelect(escalation.raise_priority_to, "sla_raise_none");
    raise.setAttribute("data-sla-raise", "");
    actions.appendChild(ui.field(raise, "sla_raise_priority").box);

    if (!isDefault) {
      var remove = ui.button("sla_remove_tier", {tier: tier}, function () {
        box.remove();
        ui.say(form, t("sla_tier_removed", {tier: tier}));
        newTier.focus();
      });
      box.appendChild(make("div", "admin-actions")).appendChild(remove);
    }
    return box;
  }

  function tierNames() {
    return Array.prototype.map.call(tiersBox.querySelectorAll("[data-tier]"), function (box) {
      return box.getAttribute("data-tier");
    });
  }

  // ----- form ⇄ JSON -----

  function fill(data) {
    state.priorities = data.priorities || [];
    state.defaultTier = data.default_tier || "standard";
    state.impacts = data.impacts || [];
    var policies = data.policies || {};
    Array.prototype.forEach.call(tiersBox.querySelectorAll("[data-tier]"), function (box) { box.remove(); });
    // The default tier first, then the others by name.
    var names = Object.keys(policies).sort(function (a, b) {
      if (a === state.defaultTier || b === state.defaultTier) {
        return a === state.defaultTier ? -1 : 1;
      }
      return a.localeCompare(b);
    });
    names.forEach(function (tier) { tiersBox.appendChild(tierBox(tier, policies[tier])); });

    var orphans = (data.tiers_in_use || []).filter(function (tier) { return !policies[tier]; });
    var hint = form.querySelector("[data-sla-orphan-tiers]");
    hint.hidden = !orphans.length;
    if (orphans.length) {
      label(hint, "sla_orphan_tiers", {tiers: orphans.join(", "), tier: state.defaultTier});
    }

    var impacts = form.querySelector("[data-sla-impacts]");
    impacts.textContent = "";
    state.impacts.forEach(function (impact) {
      var select = prioritySelect((data.impact_priorities || {})[impact.value]);
      select.setAttribute("data-impact", impact.value);
      var item = ui.field(select, "sla_impact_priority", {impact: impact.label});
      impacts.appendChild(item.box);
    });
    form.elements.waiting.value = (data.waiting_for_customer_statuses || []).join("\n");
  }

  // Read the minutes of one windows fieldset into {priority: minutes}; push errors for bad ones.
  function readWindows(box, errors) {
    var windows = {};
    Array.prototype.forEach.call(box.querySelectorAll("input[data-priority]"), function (input) {
      var text = input.value.trim();
      if (!text) {
        return;
      }
      if (!WHOLE.test(text) || Number(text) < 1) {
        errors.push([input.closest(".chat-field"), t("sla_minutes_invalid")]);
        return;
      }
      windows[input.getAttribute("data-priority")] = Number(text);
    });
    return windows;
  }

  function readTier(box, errors) {
    var warningInput = box.querySelector("[data-sla-warning]");
    var warning = warningInput.value.trim();
    if (!WHOLE.test(warning) || Number(warning) < 1 || Number(warning) > 99) {
      errors.push([warningInput.closest(".chat-field"), t("sla_percent_invalid")]);
    }
    var escalation = {};
    Array.prototype.forEach.call(box.querySelectorAll("[data-sla-flag]"), function (input) {
      escalation[input.getAttribute("data-sla-flag")] = input.checked;
    });
    escalation.notify_account_ids = box.querySelector("[data-sla-notify='accounts']").value
      .split(/[\s,;]+/).filter(Boolean);
    escalation.notify_groups = box.querySelector("[data-sla-notify='groups']").value
      .split(/[,;]/).map(function (name) { return name.trim(); }).filter(Boolean);
    escalation.raise_priority_to = box.querySelector("[data-sla-raise]").value || null;
    var tracksNext = box.querySelector("[data-sla-next-toggle]").checked;
    return {
      first_response_minutes: readWindows(box.querySelector("[data-sla-windows='first']"), errors),
      next_response_minutes: tracksNext ? readWindows(box.querySelector("[data-sla-windows='next']"), errors) : null,
      pause_while_waiting_for_customer: box.querySelector("[data-sla-pause]").checked,
      warning_percent: Number(warning),
      escalation: escalation
    };
  }

  function read() {
    var errors = [];
    var policies = {};
    Array.prototype.forEach.call(tiersBox.querySelectorAll("[data-tier]"), function (box) {
      policies[box.getAttribute("data-tier")] = readTier(box, errors);
    });
    var mapping = {};
    Array.prototype.forEach.call(form.querySelectorAll("[data-impact]"), function (select) {
      mapping[select.getAttribute("data-impact")] = select.value;
    });
    return {
      body: {policies: policies, impact_priorities: mapping,
             waiting_for_customer_statuses: ui.lines(form.elements.waiting.value)},
      errors: errors
    };
  }

  // ----- actions -----

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    ui.clearErrors(form);
    var result = read();
    if (result.errors.length) {
      ui.showErrors(form, result.errors, t("form_invalid"));
      return;
    }
    ui.say(form, t("sla_saving"));
    ui.send("PUT", "/admin/sla", result.body).then(function (data) {
      fill(data);
      ui.saved(form, "sla_policies_saved", data);
    }, function (error) {
      ui.showServerError(form, error);
    });
  });

  // A new tier starts as a copy of the default tier's policy as currently typed.
  form.querySelector("[data-sla-add-tier]").addEventListener("click", function () {
    ui.clearErrors(form);
    var name = newTier.value.trim();
    var exists = tierNames().some(function (tier) { return tier.toLowerCase() === name.toLowerCase(); });
    var problem = "";
    if (!name) {
      problem = t("sla_tier_name_required");
    } else if (exists) {
      problem = t("sla_tier_exists", {tier: name});
    }
    if (problem) {
      ui.showErrors(form, [[newTier.closest(".chat-field"), problem]], problem);
      return;
    }
    var defaultBox = tiersBox.querySelector("[data-tier='" + CSS.escape(state.defaultTier) + "']");
    var policy = defaultBox ? readTier(defaultBox, []) : {first_response_minutes: {}, warning_percent: 75};
    var box = tierBox(name, policy);
    tiersBox.appendChild(box);
    newTier.value = "";
    box.querySelector("input").focus();
  });

  ui.onLoad(fill);
})();
