/* The portal footer's launcher: start a chat, list the viewer's chats, and open one.
 *
 * Only key users of an active subscription may start a chat. /api/eligibility reports whether the
 * viewer is one. Anyone else is shown the reason and the channels open to them (the portal form,
 * the support e-mail when set, the usage rules) instead of the start button. A key user of several
 * organisations picks one in the form, and the product areas follow that organisation's subscription.
 *
 * Nothing typed in the start form is lost on an error: the form is cleared only after the server
 * created the request. The form keeps one client_message_id until then, so a retry after a lost
 * response finds the chat already started instead of opening a second request.
 *
 * Self-service (static/chat/suggest.js) proposes articles while the key user types. The form adds
 * the site's extra fields, the articles shown and the key user's answer to the out-of-scope guard
 * to the new chat. The server decides whether a statement is too vague or out of scope, and the
 * form shows its decision beside the field to change.
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var t = SupportChat.i18n.t;
  var client = SupportChat.client;
  var launcher = document.querySelector("[data-launcher]");
  if (!launcher) {
    return;
  }
  var form = launcher.querySelector("[data-start-form]");
  var formError = launcher.querySelector("[data-form-error]");
  var areaSelect = form.elements.product_area;
  var organizationSelect = form.elements.organization_id;
  var organizationField = launcher.querySelector("[data-organization-field]");
  var startButton = launcher.querySelector("[data-view='home'] [data-action='start']");
  var chatContainer = launcher.querySelector("[data-chat-container]");
  var chatHeading = launcher.querySelector("[data-chat-heading]");
  var list = launcher.querySelector("[data-chat-list]");
  var listStatus = launcher.querySelector("[data-list-status]");
  var opened = null;
  var formLoaded = false;
  var clientMessageId = null;
  var extraFields = launcher.querySelector("[data-extra-fields]");
  var fieldDefinitions = [];
  var selfService = SupportChat.selfService.attach(form, {
    organizationId: function () { return organizationSelect.value || null; },
    onSolved: function (text) {
      form.reset();
      clientMessageId = null;
      launcher.querySelector("[data-solved-text]").textContent = text;
      show("solved");
    },
    onError: function (message) { showFormError(message); }
  });

  function show(name, keepFocus) {
    var views = launcher.querySelectorAll("[data-view]");
    for (var i = 0; i < views.length; i += 1) {
      views[i].hidden = views[i].getAttribute("data-view") !== name;
    }
    if (name !== "chat" && opened) {
      opened.channel.close();
      opened = null;
      chatContainer.textContent = "";
    }
    // Keep keyboard users in place: the view's heading, else its first button. A view shown
    // when the page loads leaves the focus where the host page has it.
    var target = launcher.querySelector("[data-view='" + name + "'] h2")
      || launcher.querySelector("[data-view='" + name + "'] button");
    if (target && !keepFocus) {
      target.focus();
    }
    SupportChat.resize();
  }

  // ----- eligibility -----

  function showRefusal(data) {
    launcher.querySelector("[data-refusal-message]").textContent = data.message || "";
    var channels = data.channels || {};
    // The portal form and the usage rules are always listed, because the page already links the
    // site's portals. The portal URL from the server only replaces that link when it is set.
    if (channels.portal_url) {
      launcher.querySelector("[data-refusal-portal]").href = channels.portal_url;
    }
    var emailItem = launcher.querySelector("[data-refusal-email-item]");
    var email = launcher.querySelector("[data-refusal-email]");
    emailItem.hidden = !channels.support_email;
    if (channels.support_email) {
      email.href = "mailto:" + channels.support_email;
      email.textContent = t("refusal_email", {email: channels.support_email});
    }
    show("refusal", true);
    showListIfAny(launcher.querySelector("[data-view='refusal'] [data-action='list']"));
  }

  // Show `button` (to "my chats") only when the viewer has chats to read, such as those a former
  // key user opened. A customer rejected from the chat who never had one gets no empty list.
  function showListIfAny(button) {
    button.hidden = true;
    client.api("GET", "/chats").then(function (data) {
      button.hidden = client.listOf(data).length === 0;
      SupportChat.resize();
    }, function (error) {
      if (window.console) {
        window.console.warn("Support chat: listing the viewer's chats failed: " + error.message);
      }
    });
  }

  function checkEligibility() {
    var query = {};
    var desk = document.querySelector("[data-service-desk-id]");
    if (desk && desk.getAttribute("data-service-desk-id")) {
      query.service_desk_id = desk.getAttribute("data-service-desk-id");
    }
    client.api("GET", "/eligibility", undefined, query).then(function (data) {
      if (data && data.may_chat) {
        startButton.hidden = false;
        SupportChat.resize();
      } else {
        showRefusal(data || {});
      }
    }, function (error) {
      // Without a result the start button stays hidden; the chat start would check again anyway.
      if (window.console) {
        window.console.warn("Support chat: the eligibility check failed: " + error.message);
      }
    });
  }

  // ----- start form -----

  function fillAreas(areas) {
    while (areaSelect.options.length > 1) {
      areaSelect.remove(1);
    }
    (areas || []).forEach(function (area) {
      var value = typeof area === "string" ? area : area.value || area.name;
      var option = document.createElement("option");
      option.value = value;
      option.textContent = typeof area === "string" ? area : area.label || value;
      areaSelect.appendChild(option);
    });
    areaSelect.required = areaSelect.options.length > 1;
  }

  function fillOrganizations(data) {
    var organizations = data.organizations || [];
    organizationField.hidden = organizations.length < 2;
    organizationSelect.required = organizations.length > 1;
    organizationSelect.textContent = "";
    var placeholder = document.createElement("option");
    placeholder.value = "";
    placeholder.textContent = t("choose");
    organizationSelect.appendChild(placeholder);
    organizations.forEach(function (organization) {
      var option = document.createElement("option");
      option.value = organization.id;
      option.textContent = organization.name;
      organizationSelect.appendChild(option);
    });
    organizationSelect.value = data.organization_id || "";
  }

  // ----- the site's extra fields -----

  function fieldLabel(definition) {
    return SupportChat.i18n.lang() === "en" ? definition.label_en || definition.label_fr : definition.label_fr;
  }

  function fillExtraFields(definitions) {
    fieldDefinitions = definitions || [];
    extraFields.textContent = "";
    fieldDefinitions.forEach(function (definition) {
      var id = "chat-extra-" + definition.key;
      var wrapper = document.createElement("div");
      wrapper.className = "chat-field";
      var label = document.createElement("label");
      label.htmlFor = id;
      label.setAttribute("data-field-label", definition.key);
      label.textContent = fieldLabel(definition);
      var input;
      if (definition.type === "select") {
        input = document.createElement("select");
        var placeholder = document.createElement("option");
        placeholder.value = "";
        placeholder.textContent = t("choose");
        input.appendChild(placeholder);
        (definition.options || []).forEach(function (value) {
          var option = document.createElement("option");
          option.value = value;
          option.textContent = value;
          input.appendChild(option);
        });
      } else {
        input = document.createElement("input");
        input.type = "text";
        input.maxLength = 255;
        input.autocomplete = "off";
      }
      input.id = id;
      input.name = "extra_" + definition.key;
      input.required = !!definition.required;
      input.setAttribute("aria-describedby", id + "-error");
      var error = document.createElement("p");
      error.className = "chat-field-error";
      error.id = id + "-error";
      error.hidden = true;
      wrapper.appendChild(label);
      wrapper.appendChild(input);
      wrapper.appendChild(error);
      extraFields.appendChild(wrapper);
    });
    extraFields.hidden = fieldDefinitions.length === 0;
  }

  function extraValues() {
    var values = {};
    fieldDefinitions.forEach(function (definition) {
      var value = form.elements["extra_" + definition.key].value.trim();
      if (value) {
        values[definition.key] = value;
      }
    });
    return values;
  }

  SupportChat.i18n.onChange(function () {
    fieldDefinitions.forEach(function (definition) {
      var label = extraFields.querySelector("[data-field-label='" + definition.key + "']");
      if (label) {
        label.textContent = fieldLabel(definition);
      }
    });
  });

  function checkedImpact() {
    var checked = form.querySelector("input[name='impact']:checked");
    return checked ? checked.value : null;
  }

  function updateAnswerBy() {
    selfService.updateAnswerBy(checkedImpact(), organizationSelect.value || null);
  }

  function loadForm() {
    if (formLoaded) {
      return;
    }
    client.api("GET", "/start-form").then(function (data) {
      formLoaded = true;
      fillOrganizations(data || {});
      fillAreas(data && data.product_areas);
      fillExtraFields(data && data.fields);
      SupportChat.resize();
    }, function (error) {
      showFormError(error.message);
    });
  }

  // The product areas are those of the chosen organisation's subscription.
  function changeOrganization() {
    fillAreas([]);
    if (!organizationSelect.value) {
      return;
    }
    client.api("GET", "/start-form", undefined, {organization_id: organizationSelect.value}).then(function (data) {
      fillAreas(data && data.product_areas);
      SupportChat.resize();
    }, function (error) {
      showFormError(error.message);
    });
  }

  function showFormError(message) {
    formError.textContent = message || "";
    formError.hidden = !message;
    SupportChat.resize();
  }

  function setFieldError(field, message) {
    var errorId = field.getAttribute("aria-describedby")
      || (field.closest("fieldset") && field.closest("fieldset").getAttribute("aria-describedby"));
    var errorNode = errorId && document.getElementById(errorId);
    if (field.type === "radio") {
      field.closest("fieldset").toggleAttribute("aria-invalid", !!message);
    } else if (message) {
      field.setAttribute("aria-invalid", "true");
    } else {
      field.removeAttribute("aria-invalid");
    }
    if (errorNode) {
      errorNode.textContent = message || "";
      errorNode.hidden = !message;
    }
  }

  // Check the required fields; return the first invalid one, or null.
  function validate() {
    var firstInvalid = null;
    var checks = [
      [organizationSelect, organizationSelect.required && !organizationSelect.value],
      [form.elements.summary, !form.elements.summary.value.trim()],
      [areaSelect, areaSelect.required && !areaSelect.value]
    ];
    fieldDefinitions.forEach(function (definition) {
      var input = form.elements["extra_" + definition.key];
      checks.push([input, input.required && !input.value.trim()]);
    });
    checks.push(
      [form.querySelector("input[name='impact']"), !form.querySelector("input[name='impact']:checked")],
      [form.elements.message, !form.elements.message.value.trim()]
    );
    checks.forEach(function (check) {
      setFieldError(check[0], check[1] ? t("required") : "");
      if (check[1] && !firstInvalid) {
        firstInvalid = check[0];
      }
    });
    return firstInvalid;
  }

  function submitForm(event) {
    event.preventDefault();
    var invalid = validate();
    if (invalid) {
      showFormError(t("form_invalid"));
      invalid.focus();
      return;
    }
    var button = form.querySelector("button[type='submit']");
    var checked = form.querySelector("input[name='impact']:checked");
    clientMessageId = clientMessageId || client.newClientId();
    var payload = {
      summary: form.elements.summary.value.trim(),
      product_area: areaSelect.value || null,
      impact: checked.value,
      message: form.elements.message.value,
      client_message_id: clientMessageId,
      fields: extraValues(),
      shown_articles: selfService.shownArticles(),
      continue_out_of_scope: selfService.continueOutOfScope()
    };
    if (organizationSelect.value) {
      payload.organization_id = organizationSelect.value;
    }
    showFormError("");
    button.disabled = true;
    document.getElementById("chat-live").textContent = t("starting");
    client.api("POST", "/chats", payload).then(function (data) {
      button.disabled = false;
      document.getElementById("chat-live").textContent = "";
      form.reset();
      clientMessageId = null;
      selfService.reset();
      openChat(SupportChat.conversationOf(data));
    }, function (error) {
      button.disabled = false;
      document.getElementById("chat-live").textContent = "";
      showServerDecision(error);
    });
  }

  // Show the server's rejection of a vague or out-of-scope statement beside the field to change.
  function showServerDecision(error) {
    if (error.code === "vague_statement") {
      showFormError(t("form_invalid"));
      setFieldError(form.elements.summary, error.message);
      form.elements.summary.focus();
    } else if (error.code === "out_of_scope") {
      showFormError(t("form_invalid"));
      selfService.requireGuardChoice();
    } else {
      showFormError(error.message);
    }
  }

  // ----- my chats -----

  function loadList() {
    list.textContent = "";
    listStatus.textContent = t("loading");
    listStatus.hidden = false;
    client.api("GET", "/chats").then(function (data) {
      var chats = client.listOf(data);
      listStatus.textContent = chats.length ? "" : t("no_chats");
      listStatus.hidden = chats.length > 0;
      chats.forEach(function (chat) { list.appendChild(listItem(chat)); });
      SupportChat.resize();
    }, function (error) {
      listStatus.textContent = error.message;
      SupportChat.resize();
    });
  }

  function listItem(chat) {
    var item = document.createElement("li");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "chat-list-item";
    // static/chat/unread.js finds the item by this id to update its count.
    button.setAttribute("data-conversation-id", String(chat.id));
    var summary = document.createElement("span");
    summary.className = "chat-list-summary";
    summary.textContent = chat.summary || chat.issue_key;
    var key = document.createElement("span");
    key.className = "chat-list-key";
    key.textContent = t("request_key", {key: chat.issue_key});
    button.appendChild(summary);
    button.appendChild(key);
    if (chat.unread > 0) {
      var badge = document.createElement("span");
      badge.className = "chat-badge";
      badge.textContent = SupportChat.i18n.plural("unread", chat.unread);
      button.appendChild(badge);
    }
    button.addEventListener("click", function () { openChat(chat); });
    item.appendChild(button);
    return item;
  }

  // ----- one chat -----

  function openChat(conversation) {
    show("chat");
    chatHeading.textContent = t("request_key", {key: conversation.issue_key});
    chatHeading.setAttribute("data-issue-key", conversation.issue_key || "");
    opened = SupportChat.openConversation(chatContainer, conversation, "customer", null);
    opened.view.input.focus();
  }

  launcher.addEventListener("click", function (event) {
    var action = event.target.closest("[data-action]");
    if (!action) {
      return;
    }
    var name = action.getAttribute("data-action");
    if (name === "start") {
      show("form");
      loadForm();
      updateAnswerBy();
    } else if (name === "list") {
      show("list");
      loadList();
    } else {
      show("home");
    }
  });
  form.addEventListener("submit", submitForm);
  organizationSelect.addEventListener("change", changeOrganization);
  organizationSelect.addEventListener("change", updateAnswerBy);
  form.addEventListener("change", function (event) {
    if (event.target.name === "impact") {
      updateAnswerBy();
    }
  });
  checkEligibility();

  // Clear a field's error as soon as it is filled in, and the banner once no field is in error.
  function clearFixedError(event) {
    var field = event.target;
    var filled = field.type === "radio" ? true : !!field.value.trim();
    if (filled) {
      setFieldError(field, "");
    }
    if (!form.querySelector("[aria-invalid]")) {
      showFormError("");
    }
  }
  form.addEventListener("input", clearFixedError);
  form.addEventListener("change", clearFixedError);
})();
