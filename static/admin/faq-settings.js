/* The self-service settings of the settings pages: the FAQ/TUTO catalogue (create, edit, delete,
 * import, export), the synonyms, the start form's extra fields, the out-of-scope guard, the
 * knowledge-base options and the statistics of proposed articles.
 *
 * Everything is read from and saved to /api/admin/faq. The server validates each change and
 * returns its error in the page's language, shown at the head of the form that sent it. Every
 * text is set with textContent; fixed texts come from templates/panels/faq_admin_strings.html.
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var section = document.querySelector("[data-faq-settings]");
  if (!section) {
    return;
  }
  var t = SupportChat.i18n.t;
  var client = SupportChat.client;
  var status = section.querySelector("[data-faq-status]");
  var articleForm = section.querySelector("[data-faq-article-form]");
  var importForm = section.querySelector("[data-faq-import-form]");
  var synonymsForm = section.querySelector("[data-faq-synonyms-form]");
  var fieldsForm = section.querySelector("[data-faq-fields-form]");
  var guardForm = section.querySelector("[data-faq-guard-form]");
  var optionsForm = section.querySelector("[data-faq-options-form]");
  var state = {articles: [], settings: {}, knowledgeBase: null, requestFields: null, editing: null, stats: null};
  var uid = 0;

  // The settings pages fill their Jira frame (sizeToParent), so only the chat pages define resize.
  function resize() {
    if (typeof SupportChat.resize === "function") {
      SupportChat.resize();
    }
  }

  function element(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    if (className) {
      node.className = className;
    }
    return node;
  }

  function say(text) {
    status.textContent = text || "";
  }

  function formError(form, message) {
    var box = form.querySelector("[data-faq-form-error], [data-faq-article-error]");
    if (box) {
      box.textContent = message || "";
      box.hidden = !message;
    }
    resize();
  }

  // ----- catalogue -----

  function drawArticles() {
    var body = section.querySelector("[data-faq-articles]");
    body.textContent = "";
    state.articles.forEach(function (article) {
      var row = element("tr");
      row.appendChild(element("td", article.id));
      row.appendChild(element("td", t(article.kind === "tuto" ? "faqa_kind_tuto" : "faqa_kind_faq"), "faq-kind"));
      row.appendChild(element("td", article.title));
      var actions = element("td");
      // Short visible labels keep the column narrow; the accessible name says which article.
      var edit = actions.appendChild(element("button", t("faqa_edit_button"), "chat-button chat-button--subtle"));
      edit.type = "button";
      edit.setAttribute("aria-label", t("faqa_edit", {title: article.title}));
      edit.addEventListener("click", function () { openArticle(article); });
      var remove = actions.appendChild(element("button", t("faqa_delete_button"), "chat-button chat-button--subtle"));
      remove.type = "button";
      remove.setAttribute("aria-label", t("faqa_delete", {title: article.title}));
      remove.addEventListener("click", function () { deleteArticle(article); });
      row.appendChild(actions);
      body.appendChild(row);
    });
    section.querySelector("[data-faq-empty]").hidden = state.articles.length > 0;
    resize();
  }

  function openArticle(article) {
    state.editing = article ? article.id : null;
    formError(articleForm, "");
    articleForm.hidden = false;
    var elements = articleForm.elements;
    elements.id.value = article ? article.id : "";
    elements.id.readOnly = !!article;
    elements.kind.value = article ? article.kind : "faq";
    elements.title.value = article ? article.title : "";
    elements.body.value = article ? article.body : "";
    elements.tags.value = article ? (article.tags || []).join(", ") : "";
    elements.url.value = article && article.url ? article.url : "";
    var heading = articleForm.querySelector("[data-faq-article-heading]");
    heading.textContent = article ? t("faqa_edit_heading", {id: article.id}) : t("faqa_new_heading");
    heading.focus();
    resize();
  }

  function closeArticle() {
    articleForm.hidden = true;
    state.editing = null;
    resize();
  }

  function saveArticle(event) {
    event.preventDefault();
    var elements = articleForm.elements;
    var payload = {kind: elements.kind.value, title: elements.title.value, body: elements.body.value,
                   tags: elements.tags.value, url: elements.url.value.trim() || null};
    var request;
    if (state.editing) {
      request = client.api("PUT", "/admin/faq/articles/" + encodeURIComponent(state.editing), payload);
    } else {
      if (elements.id.value.trim()) {
        payload.id = elements.id.value.trim();
      }
      request = client.api("POST", "/admin/faq/articles", payload);
    }
    request.then(function (data) {
      closeArticle();
      say(t("faqa_saved_article", {id: data.article.id}));
      return load();
    }, function (error) {
      formError(articleForm, error.message);
    });
  }

  function deleteArticle(article) {
    if (!window.confirm(t("faqa_delete_confirm", {id: article.id}))) {
      return;
    }
    client.api("DELETE", "/admin/faq/articles/" + encodeURIComponent(article.id)).then(function () {
      say(t("faqa_deleted", {id: article.id}));
      return load();
    }, function (error) {
      say(error.message);
    });
  }

  function exportArticles() {
    client.api("GET", "/admin/faq/export").then(function (articles) {
      var blob = new Blob([JSON.stringify(articles, null, 2) + "\n"], {type: "application/json"});
      var link = element("a");
      link.download = "faq-catalogue.json";
      link.href = URL.createObjectURL(blob);
      document.body.appendChild(link);
      link.click();
      link.remove();
      window.setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
    }, function (error) {
      say(error.message);
    });
  }

  function importFile(event) {
    event.preventDefault();
    var report = importForm.querySelector("[data-faq-import-report]");
    var file = importForm.elements.file.files[0];
    report.textContent = "";
    if (!file) {
      report.textContent = t("faqa_import_choose");
      return;
    }
    report.textContent = t("loading");
    var query = "?lang=" + encodeURIComponent(SupportChat.i18n.lang()) + "&filename=" + encodeURIComponent(file.name);
    // A multipart upload through the client's transport: fetch on Connect, requestRemote on Forge.
    var form = new FormData();
    form.append("file", file);
    client.upload("/api/admin/faq/import" + query, form, {Accept: "application/json"}).then(function (response) {
      return response.json();
    }).then(function (data) {
      report.textContent = "";
      if (data.report && data.report.imported) {
        report.appendChild(element("p", t("faqa_import_done", {created: data.report.created.length,
                                                              updated: data.report.updated.length})));
        importForm.reset();
        load();
      } else if (data.report) {
        report.appendChild(element("p", t("faqa_import_failed")));
        var list = element("ul");
        data.report.errors.forEach(function (error) {
          list.appendChild(element("li", error.id
            ? t("faqa_import_line", {line: error.line, id: error.id, message: error.message})
            : t("faqa_import_line_no_id", {line: error.line, message: error.message})));
        });
        report.appendChild(list);
      } else {
        report.textContent = (data.error && data.error.message) || t("network_error");
      }
      resize();
    }).catch(function () {
      report.textContent = t("network_error");
    });
  }

  // ----- settings forms -----

  function saveSettings(form, payload) {
    formError(form, "");
    return client.api("PUT", "/admin/faq/settings", payload).then(function (data) {
      state.settings = data.settings;
      fillSettings();
      say(t("faqa_saved"));
    }, function (error) {
      formError(form, error.message);
    });
  }

  function fieldControl(box, labelKey, control, params) {
    uid += 1;
    control.id = "faq-field-control-" + uid;
    var label = element("label", t(labelKey, params));
    label.htmlFor = control.id;
    box.appendChild(label);
    box.appendChild(control);
    return control;
  }

  function targetOptions(select, selected) {
    select.textContent = "";
    var description = element("option", t("faqa_field_target_description"));
    description.value = "description";
    select.appendChild(description);
    (state.requestFields || []).forEach(function (field) {
      var option = element("option", field.name + " (" + field.id + ")");
      option.value = field.id;
      select.appendChild(option);
    });
    if (selected && selected !== "description" && !select.querySelector("option[value='" + selected.replace(/'/g, "") + "']")) {
      var kept = element("option", selected);
      kept.value = selected;
      select.appendChild(kept);
    }
    select.value = selected || "description";
  }

  function fieldRow(field, index) {
    var box = element("fieldset", null, "chat-field faq-field-row");
    box.setAttribute("data-faq-field", "");
    box.appendChild(element("legend", t("faqa_field_legend", {index: index + 1})));

    var key = fieldControl(box, "faqa_field_key", element("input"));
    key.name = "key";
    key.value = field.key || "";
    key.maxLength = 40;
    key.spellcheck = false;
    var labelFr = fieldControl(box, "faqa_field_label_fr", element("input"));
    labelFr.name = "label_fr";
    labelFr.value = field.label_fr || "";
    labelFr.maxLength = 80;
    var labelEn = fieldControl(box, "faqa_field_label_en", element("input"));
    labelEn.name = "label_en";
    labelEn.value = field.label_en || "";
    labelEn.maxLength = 80;

    var type = fieldControl(box, "faqa_field_type", element("select"));
    type.name = "type";
    [["text", "faqa_field_type_text"], ["select", "faqa_field_type_select"]].forEach(function (choice) {
      var option = element("option", t(choice[1]));
      option.value = choice[0];
      type.appendChild(option);
    });
    type.value = field.type || "text";
    var options = fieldControl(box, "faqa_field_options", element("textarea"));
    options.name = "options";
    options.rows = 3;
    options.value = (field.options || []).join("\n");
    var target = fieldControl(box, "faqa_field_target", element("select"));
    target.name = "target";
    targetOptions(target, field.target);

    var required = element("label", null, "chat-switch");
    var checkbox = element("input");
    checkbox.type = "checkbox";
    checkbox.name = "required";
    checkbox.checked = !!field.required;
    required.appendChild(checkbox);
    required.appendChild(element("span", t("faqa_field_required")));
    box.appendChild(required);

    var remove = element("button", t("faqa_field_remove", {index: index + 1}), "chat-button chat-button--subtle");
    remove.type = "button";
    remove.addEventListener("click", function () {
      box.remove();
      resize();
    });
    box.appendChild(remove);

    function showOptions() {
      options.parentNode.querySelector("label[for='" + options.id + "']").hidden = type.value !== "select";
      options.hidden = type.value !== "select";
      resize();
    }
    type.addEventListener("change", showOptions);
    showOptions();
    return box;
  }

  function drawFields(fields) {
    var container = fieldsForm.querySelector("[data-faq-fields]");
    container.textContent = "";
    if (!fields.length) {
      container.appendChild(element("p", t("faqa_fields_none"), "chat-hint"));
    }
    fields.forEach(function (field, index) {
      container.appendChild(fieldRow(field, index));
    });
  }

  function readFields() {
    return Array.prototype.map.call(fieldsForm.querySelectorAll("[data-faq-field]"), function (box) {
      var value = function (name) { return box.querySelector("[name='" + name + "']"); };
      return {
        key: value("key").value.trim(),
        label_fr: value("label_fr").value.trim(),
        label_en: value("label_en").value.trim(),
        type: value("type").value,
        options: value("type").value === "select" ? value("options").value.split("\n").map(function (line) {
          return line.trim();
        }).filter(Boolean) : [],
        target: value("target").value,
        required: value("required").checked
      };
    });
  }

  function fillGuard(guard) {
    Object.keys(guard || {}).forEach(function (scope) {
      var box = guardForm.querySelector("[data-faq-guard-scope='" + scope + "']");
      if (!box) {
        return;
      }
      ["message_fr", "message_en", "link_label_fr", "link_label_en", "url"].forEach(function (name) {
        box.querySelector("[name='" + name + "']").value = guard[scope][name] || "";
      });
    });
  }

  function readGuard() {
    var guard = {};
    Array.prototype.forEach.call(guardForm.querySelectorAll("[data-faq-guard-scope]"), function (box) {
      var texts = {};
      ["message_fr", "message_en", "link_label_fr", "link_label_en", "url"].forEach(function (name) {
        texts[name] = box.querySelector("[name='" + name + "']").value.trim() || null;
      });
      guard[box.getAttribute("data-faq-guard-scope")] = texts;
    });
    return guard;
  }

  function drawKnowledgeBase() {
    var line = optionsForm.querySelector("[data-faq-kb-status]");
    var kb = state.knowledgeBase || {};
    var parts = [];
    if (kb.synced_at) {
      parts.push(t("faqa_kb_status", {when: new Date(kb.synced_at).toLocaleString(SupportChat.i18n.lang(), {hourCycle: "h23"}),
                                      articles: kb.articles, queries: kb.queries}));
    } else {
      parts.push(t("faqa_kb_never"));
    }
    if (kb.error) {
      parts.push(t("faqa_kb_error", {error: kb.error}));
    }
    line.textContent = parts.join(" ");
  }

  function fillSettings() {
    var settings = state.settings || {};
    synonymsForm.elements.faq_synonyms.value = settings.faq_synonyms || "";
    drawFields(settings.start_form_fields || []);
    fillGuard(settings.scope_guard);
    optionsForm.elements.knowledge_base_sync.checked = !!settings.knowledge_base_sync;
    optionsForm.elements.self_service_opens_resolved_request.checked = !!settings.self_service_opens_resolved_request;
    drawKnowledgeBase();
    resize();
  }

  function syncKnowledgeBase() {
    say(t("faqa_kb_syncing"));
    client.api("POST", "/admin/faq/knowledge-base/sync", {}).then(function (data) {
      state.knowledgeBase = data.knowledge_base;
      drawKnowledgeBase();
      say("");
      loadStats();
    }, function (error) {
      say(error.message);
      load();
    });
  }

  // ----- statistics -----

  function drawStats() {
    var body = section.querySelector("[data-faq-stats]");
    var stats = state.stats || {articles: []};
    body.textContent = "";
    if (!stats.articles.length) {
      var row = element("tr");
      var cell = row.appendChild(element("td", t("faqa_stats_empty")));
      cell.colSpan = 5;
      body.appendChild(row);
    }
    stats.articles.forEach(function (article) {
      var line = element("tr");
      var name = article.deleted ? t("faqa_deleted_article", {title: article.title}) : article.title;
      var header = line.appendChild(element("th", name));
      header.scope = "row";
      [article.shown, article.solved, article.helpful, article.not_helpful].forEach(function (count) {
        line.appendChild(element("td", String(count)));
      });
      body.appendChild(line);
    });
    var solved = stats.solved_total || 0;
    var chats = stats.chats_after_suggestions || 0;
    section.querySelector("[data-faq-stats-summary]").textContent =
      SupportChat.i18n.plural("faqa_stats_solved", solved) + " " +
      SupportChat.i18n.plural("faqa_stats_chats", chats);
    resize();
  }

  function loadStats() {
    return client.api("GET", "/admin/faq/stats").then(function (data) {
      state.stats = data;
      drawStats();
    }, function (error) {
      say(error.message);
    });
  }

  // ----- loading -----

  function load() {
    return client.api("GET", "/admin/faq").then(function (data) {
      state.articles = data.articles || [];
      state.settings = data.settings || {};
      state.knowledgeBase = data.knowledge_base;
      drawArticles();
      fillSettings();
    }, function (error) {
      say(error.message);
    });
  }

  function loadRequestFields() {
    return client.api("GET", "/admin/faq/request-fields").then(function (data) {
      state.requestFields = data.request_fields || [];
    }, function () {
      state.requestFields = [];
      say(t("faqa_fields_jira_failed"));
    });
  }

  section.querySelector("[data-faq-new]").addEventListener("click", function () { openArticle(null); });
  section.querySelector("[data-faq-export]").addEventListener("click", exportArticles);
  section.querySelector("[data-faq-cancel]").addEventListener("click", closeArticle);
  section.querySelector("[data-faq-kb-sync]").addEventListener("click", syncKnowledgeBase);
  section.querySelector("[data-faq-stats-refresh]").addEventListener("click", loadStats);
  articleForm.addEventListener("submit", saveArticle);
  importForm.addEventListener("submit", importFile);
  synonymsForm.addEventListener("submit", function (event) {
    event.preventDefault();
    saveSettings(synonymsForm, {faq_synonyms: synonymsForm.elements.faq_synonyms.value});
  });
  fieldsForm.querySelector("[data-faq-add-field]").addEventListener("click", function () {
    var fields = readFields();
    fields.push({type: "text", target: "description"});
    drawFields(fields);
    var rows = fieldsForm.querySelectorAll("[data-faq-field]");
    rows[rows.length - 1].querySelector("input").focus();
    resize();
  });
  fieldsForm.addEventListener("submit", function (event) {
    event.preventDefault();
    saveSettings(fieldsForm, {start_form_fields: readFields()});
  });
  guardForm.addEventListener("submit", function (event) {
    event.preventDefault();
    saveSettings(guardForm, {scope_guard: readGuard()});
  });
  optionsForm.addEventListener("submit", function (event) {
    event.preventDefault();
    saveSettings(optionsForm, {knowledge_base_sync: optionsForm.elements.knowledge_base_sync.checked,
                               self_service_opens_resolved_request:
                                 optionsForm.elements.self_service_opens_resolved_request.checked});
  });
  SupportChat.i18n.onChange(function () {
    drawArticles();
    drawFields(readFields());
    drawKnowledgeBase();
    drawStats();
  });

  SupportChat.i18n.ready().then(function () {
    return loadRequestFields();
  }).then(function () {
    return Promise.all([load(), loadStats()]);
  });
})();
