/* Self-service on the start form: articles proposed while the key user types, their ratings,
 * "Cet article a résolu mon problème", the out-of-scope guard, the vague-statement hint and the
 * answer-by line.
 *
 * Typing in the summary or the message calls /api/faq/suggest, SUGGEST_DELAY_MS after the last
 * keystroke, with the statement so far. The response lists the proposed articles (the same ranking
 * as the `flask faq suggest` command), the scope the guard reads in the statement, and whether
 * the statement is too vague. Responses that arrive after a newer request are dropped.
 *
 * A form session (its `session_id`) starts when the form opens and ends when a chat starts or an
 * article solves the problem. The server counts each article once per session, keeps the ratings
 * of the session, and records on the new request the articles the session showed.
 *
 * Every text from the server or the catalogue is set with textContent, never as HTML.
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var t = SupportChat.i18n.t;
  var client = SupportChat.client;
  var SUGGEST_DELAY_MS = 300;
  var STATEMENT_MIN_CHARS = 3;

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    return node;
  }

  function isWebAddress(url) {
    return typeof url === "string" && /^(https?:\/\/|mailto:)/i.test(url);
  }

  // ----- the answer-by line (the same sentences as the SLA line of an open chat) -----

  function dayKey(date, zone) {
    return new Intl.DateTimeFormat("en-CA", {timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit"})
      .format(date);
  }

  // Return t(key + "_today") or t(key + "_day") for `date`, in the support calendar's `zone`.
  function sentence(key, date, zone) {
    var lang = SupportChat.i18n.lang();
    var now = new Date();
    var time = new Intl.DateTimeFormat(lang, {timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23"})
      .format(date);
    var days = Math.round((Date.parse(dayKey(date, zone)) - Date.parse(dayKey(now, zone))) / 86400000);
    if (days === 0) {
      return t(key + "_today", {time: time});
    }
    var options = Math.abs(days) < 7 ? {weekday: "long"} : {weekday: "long", day: "numeric", month: "long"};
    options.timeZone = zone;
    return t(key + "_day", {time: time, day: new Intl.DateTimeFormat(lang, options).format(date)});
  }

  function answerByText(sla) {
    var zone = sla.timezone || undefined;
    var parts = [];
    var opensAt = sla.support_opens_at ? new Date(sla.support_opens_at) : null;
    var answerBy = sla.answer_by ? new Date(sla.answer_by) : null;
    if (opensAt && !isNaN(opensAt.getTime())) {
      parts.push(sentence("sla_support_closed", opensAt, zone));
    }
    if (answerBy && !isNaN(answerBy.getTime())) {
      parts.push(sentence("sla_answer_by", answerBy, zone));
    }
    return parts.join(" ");
  }

  // ----- one start form -----

  function Controller(form, options) {
    this.form = form;
    this.options = options || {};
    this.section = form.querySelector("[data-suggestions]");
    this.list = form.querySelector("[data-suggestions-list]");
    this.count = form.querySelector("[data-suggestions-count]");
    this.guard = form.querySelector("[data-guard]");
    this.guardBox = this.guard.querySelector("input[name='continue_out_of_scope']");
    this.guardError = form.querySelector("#faq-guard-error");
    this.vagueHint = form.querySelector("[data-vague-hint]");
    this.answerBy = form.querySelector("[data-answer-by]");
    this.timer = null;
    this.sequence = 0;
    this.last = null;
    this.reset();

    var self = this;
    ["summary", "message"].forEach(function (name) {
      form.elements[name].addEventListener("input", function () { self.schedule(); });
    });
    form.elements.message.addEventListener("blur", function () { self.showVagueHint(); });
    this.guardBox.addEventListener("change", function () { self.setGuardError(""); });
    SupportChat.i18n.onChange(function () { self.redraw(); });
  }

  // Start a new form session: nothing shown, nothing rated, the guard and hints hidden.
  Controller.prototype.reset = function () {
    window.clearTimeout(this.timer);
    this.sequence += 1;
    this.session = client.newClientId();
    this.shown = [];
    this.ratings = {};
    this.last = null;
    this.sla = null;
    this.guardBox.checked = false;
    this.redraw();
  };

  Controller.prototype.statement = function () {
    return {summary: this.form.elements.summary.value, message: this.form.elements.message.value};
  };

  Controller.prototype.schedule = function () {
    var self = this;
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(function () { self.refresh(); }, SUGGEST_DELAY_MS);
  };

  // Request suggestions now. The promise resolves once the response is drawn, or dropped for a newer one.
  Controller.prototype.refresh = function () {
    var self = this;
    window.clearTimeout(this.timer);
    var statement = this.statement();
    var sequence = ++this.sequence;
    if ((statement.summary + statement.message).trim().length < STATEMENT_MIN_CHARS) {
      this.last = null;
      this.redraw();
      return Promise.resolve(null);
    }
    var payload = {summary: statement.summary, message: statement.message, session_id: this.session};
    var organizationId = this.options.organizationId && this.options.organizationId();
    if (organizationId) {
      payload.organization_id = organizationId;
    }
    return client.api("POST", "/faq/suggest", payload).then(function (data) {
      if (sequence !== self.sequence) {
        return null;
      }
      self.last = data || null;
      (self.last && self.last.suggestions || []).forEach(function (article) {
        if (self.shown.indexOf(article.id) < 0) {
          self.shown.push(article.id);
        }
      });
      self.redraw();
      return self.last;
    }, function (error) {
      // Suggestions are a help: without them the form still works.
      if (window.console) {
        window.console.warn("Support chat: suggestions failed: " + error.message);
      }
      return null;
    });
  };

  Controller.prototype.redraw = function () {
    this.drawSuggestions();
    this.drawGuard();
    this.drawVagueHint(false);
    this.drawAnswerBy();
    SupportChat.resize();
  };

  // ----- proposed articles -----

  Controller.prototype.drawSuggestions = function () {
    var suggestions = (this.last && this.last.suggestions) || [];
    var focused = document.activeElement && this.list.contains(document.activeElement)
      ? document.activeElement.getAttribute("data-focus-key") : null;
    this.list.textContent = "";
    suggestions.forEach(function (article) {
      this.list.appendChild(this.item(article));
    }, this);
    this.section.hidden = suggestions.length === 0;
    var text = suggestions.length === 0 ? "" : suggestions.length === 1 ? t("faq_count_one")
      : t("faq_count", {count: suggestions.length});
    if (this.count.textContent !== text) {
      this.count.textContent = text;
    }
    if (focused) {
      var again = this.list.querySelector("[data-focus-key='" + focused.replace(/'/g, "") + "']");
      if (again) {
        again.focus();
      }
    }
  };

  Controller.prototype.item = function (article) {
    var self = this;
    var item = element("li", "faq-item");
    item.setAttribute("data-article-id", article.id);
    var head = item.appendChild(element("p", "faq-item-head"));
    head.appendChild(element("span", "chat-lozenge faq-kind", t(article.kind === "tuto" ? "faq_kind_tuto" : "faq_kind_faq")));
    head.appendChild(document.createTextNode(" "));
    if (isWebAddress(article.url)) {
      var link = head.appendChild(element("a", "faq-link"));
      link.href = article.url;
      link.target = "_blank";
      link.rel = "noopener";
      link.appendChild(element("span", null, article.title));
      link.appendChild(element("span", "visually-hidden", " " + t("new_tab")));
    } else {
      head.appendChild(element("span", "faq-item-title", article.title));
    }
    if (article.excerpt) {
      item.appendChild(element("p", "faq-excerpt", article.excerpt));
    }
    // The whole text, when the excerpt above does not already show all of it.
    if (article.body && !isWebAddress(article.url) && article.body.split(/\s+/).join(" ").trim() !== article.excerpt) {
      var details = item.appendChild(element("details", "faq-body"));
      details.appendChild(element("summary", null, t("faq_read")));
      details.appendChild(element("p", "chat-text", article.body));
      details.addEventListener("toggle", function () { SupportChat.resize(); });
    }

    var actions = item.appendChild(element("div", "faq-actions"));
    var solved = actions.appendChild(element("button", "chat-button", t("faq_solved")));
    solved.type = "button";
    solved.setAttribute("data-solved", "");
    solved.setAttribute("data-focus-key", "solved-" + article.id);
    solved.addEventListener("click", function () { self.solve(article, solved); });

    var rating = actions.appendChild(element("div", "faq-rating"));
    rating.setAttribute("role", "group");
    var question = rating.appendChild(element("span", "faq-rating-question", t("faq_helpful")));
    question.id = "faq-helpful-" + this.session + "-" + article.id.replace(/[^\w-]/g, "_");
    rating.setAttribute("aria-labelledby", question.id);
    [["yes", true], ["no", false]].forEach(function (choice) {
      var button = rating.appendChild(element("button", "chat-button chat-button--subtle", t("faq_" + choice[0])));
      button.type = "button";
      button.setAttribute("data-helpful", choice[0]);
      button.setAttribute("data-focus-key", choice[0] + "-" + article.id);
      button.setAttribute("aria-pressed", String(self.ratings[article.id] === choice[1]));
      button.addEventListener("click", function () { self.rate(article, choice[1]); });
    });
    var status = rating.appendChild(element("span", "faq-rated", self.ratings[article.id] === undefined ? "" : t("faq_rated")));
    status.setAttribute("role", "status");
    return item;
  };

  Controller.prototype.rate = function (article, helpful) {
    var self = this;
    var payload = {session_id: this.session, article_id: article.id, helpful: helpful};
    var organizationId = this.options.organizationId && this.options.organizationId();
    if (organizationId) {
      payload.organization_id = organizationId;
    }
    return client.api("POST", "/faq/rate", payload).then(function () {
      self.ratings[article.id] = helpful;
      self.drawSuggestions();
      SupportChat.resize();
    }, function (error) {
      if (self.options.onError) {
        self.options.onError(error.message);
      }
    });
  };

  Controller.prototype.solve = function (article, button) {
    var self = this;
    var statement = this.statement();
    var payload = {session_id: this.session, article_id: article.id, summary: statement.summary,
                   message: statement.message, product_area: this.form.elements.product_area.value || null};
    var organizationId = this.options.organizationId && this.options.organizationId();
    if (organizationId) {
      payload.organization_id = organizationId;
    }
    button.disabled = true;
    document.getElementById("chat-live").textContent = t("faq_saving");
    return client.api("POST", "/faq/solved", payload).then(function (data) {
      document.getElementById("chat-live").textContent = "";
      button.disabled = false;
      var resolution = (data && data.resolution) || {};
      var text = resolution.issue_key ? t("faq_solved_request", {title: article.title, key: resolution.issue_key})
        : t("faq_solved_text", {title: article.title});
      self.reset();
      if (self.options.onSolved) {
        self.options.onSolved(text);
      }
    }, function (error) {
      document.getElementById("chat-live").textContent = "";
      button.disabled = false;
      if (self.options.onError) {
        self.options.onError(error.message);
      }
    });
  };

  // ----- the guard and the vague-statement hint -----

  Controller.prototype.drawGuard = function () {
    var guard = this.last && this.last.guard;
    this.guard.hidden = !guard;
    if (!guard) {
      this.guardBox.checked = false;
      this.setGuardError("");
      return;
    }
    this.guard.querySelector("[data-guard-title]").textContent = t("guard_title_" + guard.scope);
    this.guard.querySelector("[data-guard-message]").textContent = guard.message || "";
    var linkItem = this.guard.querySelector("[data-guard-link-item]");
    var link = this.guard.querySelector("[data-guard-link]");
    linkItem.hidden = !(isWebAddress(guard.url) && guard.link_label);
    if (!linkItem.hidden) {
      link.href = guard.url;
      link.querySelector("[data-guard-link-label]").textContent = guard.link_label;
    }
  };

  Controller.prototype.setGuardError = function (message) {
    this.guardError.textContent = message || "";
    this.guardError.hidden = !message;
    if (message) {
      this.guardBox.setAttribute("aria-invalid", "true");
    } else {
      this.guardBox.removeAttribute("aria-invalid");
    }
  };

  // Show the guard for the statement as it is now, and request the key user's choice.
  Controller.prototype.requireGuardChoice = function () {
    var self = this;
    return this.refresh().then(function () {
      if (self.guard.hidden) {
        return;
      }
      self.setGuardError(t("guard_continue_required"));
      self.guardBox.focus();
      SupportChat.resize();
    });
  };

  Controller.prototype.continueOutOfScope = function () {
    return !this.guard.hidden && this.guardBox.checked;
  };

  Controller.prototype.drawVagueHint = function (show) {
    var vague = this.last && this.last.vague;
    if (show === false && this.vagueHint.hidden) {
      return;
    }
    this.vagueHint.textContent = vague ? (this.last.hint || t("faq_vague_hint")) : "";
    this.vagueHint.hidden = !vague;
  };

  Controller.prototype.showVagueHint = function () {
    var self = this;
    if (!this.form.elements.message.value.trim()) {
      return;
    }
    this.refresh().then(function () {
      self.drawVagueHint(true);
      SupportChat.resize();
    });
  };

  // ----- answer-by -----

  Controller.prototype.updateAnswerBy = function (impact, organizationId) {
    var self = this;
    if (!impact) {
      this.sla = null;
      this.drawAnswerBy();
      return Promise.resolve();
    }
    var query = {impact: impact};
    if (organizationId) {
      query.organization_id = organizationId;
    }
    return client.api("GET", "/start-form/answer-by", undefined, query).then(function (data) {
      self.sla = (data && data.sla) || null;
      self.drawAnswerBy();
      SupportChat.resize();
    }, function () {
      self.sla = null;
      self.drawAnswerBy();
    });
  };

  Controller.prototype.drawAnswerBy = function () {
    var text = this.sla ? answerByText(this.sla) : "";
    this.answerBy.textContent = text;
    this.answerBy.hidden = !text;
  };

  Controller.prototype.shownArticles = function () {
    return this.shown.slice();
  };

  SupportChat.selfService = {
    attach: function (form, options) {
      return new Controller(form, options);
    }
  };
})();
