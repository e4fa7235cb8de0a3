/* The proposed solution of a conversation, shown under the message it names.
 *
 * Agents get "Proposer comme solution" on each public message of the support side, and an alert
 * line when the key user reports that the problem persists. The key user who may write gets
 * "Valider la solution" and "Le problème persiste" under the proposed message. After a
 * validation, they get the one optional satisfaction question (a rating from 1 to 5 and a
 * comment). Other readers see the state of the solution.
 *
 * The state comes from the conversation's `solution` field, from the "solution" frames of the
 * websocket, and from GET /api/chats/<id>/solution when a solution event arrives (the long-poll
 * fallback carries messages only). Actions go through the JSON API (addon/web/solution_api.py).
 * Every text is set with textContent.
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var t = SupportChat.i18n.t;
  var make = SupportChat.chatDom.make;
  var RATINGS = [1, 2, 3, 4, 5];

  var VALIDATED_TEXT = {
    resolved: "solution_outcome_resolved",
    already_resolved: "solution_outcome_already_resolved",
    closed: "solution_outcome_closed",
    no_transition: "solution_outcome_no_transition"
  };
  var PERSISTS_TEXT = {
    reopened: "solution_outcome_reopened",
    kept_open: "solution_outcome_kept_open",
    new_request: "solution_outcome_new_request"
  };

  function SolutionControl(view, conversation, role) {
    this.view = view;
    this.conversationId = conversation.id;
    this.role = role;
    this.canWrite = conversation.can_write !== false;
    this.solution = conversation.solution || null;
    this.payloads = {};  // Maps a message id to its latest payload, to redraw it when the state changes.
    this.busy = false;
    this.error = "";
    this.alert = make("p", "chat-solution-alert");
    this.alert.setAttribute("role", "alert");
    this.alert.hidden = true;
    view.root.insertBefore(this.alert, view.logRegion);
  }

  SolutionControl.prototype.accountId = function () {
    return this.view.accountId;
  };

  // View.render calls this for every message it draws.
  SolutionControl.prototype.decorate = function (item, payload) {
    if (!payload.id || payload.local) {
      return;
    }
    this.payloads[payload.id] = payload;
    var solution = this.solution;
    var isSolution = solution && solution.message_id === payload.id && solution.state !== "superseded";
    if (isSolution) {
      item.classList.add("chat-message--solution");
      item.appendChild(this.box());
    } else if (this.role === "agent" && this.proposable(payload)) {
      item.appendChild(this.proposeButton(payload));
    }
  };

  SolutionControl.prototype.proposable = function (payload) {
    var author = payload.author || {};
    return payload.kind === "message" && payload.visibility === "public" && author.role === "agent" &&
      !payload.deleted && !(this.solution && this.solution.state === "proposed" && this.solution.message_id === payload.id);
  };

  SolutionControl.prototype.proposeButton = function (payload) {
    var self = this;
    var button = make("button", "chat-button chat-button--subtle chat-solution-propose", t("solution_propose"));
    button.type = "button";
    button.addEventListener("click", function () {
      button.disabled = true;
      self.call("POST", "/chats/" + self.conversationId + "/solutions", {message_id: payload.id});
    });
    return button;
  };

  // ----- the box under the proposed message -----

  SolutionControl.prototype.box = function () {
    var solution = this.solution;
    var box = make("div", "chat-solution");
    box.setAttribute("data-solution-state", solution.state);
    box.appendChild(make("p", "chat-solution-badge", t("solution_badge")));
    if (solution.state === "proposed") {
      this.proposedPart(box);
    } else if (solution.state === "validated") {
      this.answeredPart(box, "solution_validated_by", VALIDATED_TEXT);
      this.satisfactionPart(box);
    } else if (solution.state === "persists") {
      this.answeredPart(box, "solution_persists_by", PERSISTS_TEXT);
    }
    if (this.error) {
      var error = make("p", "chat-error", t("solution_failed", {error: this.error}));
      error.setAttribute("role", "alert");
      box.appendChild(error);
    }
    return box;
  };

  SolutionControl.prototype.mayAnswer = function () {
    return this.role !== "agent" && this.canWrite;
  };

  SolutionControl.prototype.proposedPart = function (box) {
    if (!this.mayAnswer()) {
      box.appendChild(make("p", "chat-solution-text", t("solution_waiting")));
      return;
    }
    var self = this;
    var path = "/chats/" + this.conversationId + "/solutions/" + this.solution.id;
    box.appendChild(make("p", "chat-solution-text", t("solution_question")));
    var actions = make("div", "chat-actions");
    var validate = make("button", "chat-button chat-button--primary", t("solution_validate"));
    var persists = make("button", "chat-button", t("solution_persists"));
    [[validate, "/validate"], [persists, "/persists"]].forEach(function (pair) {
      pair[0].type = "button";
      pair[0].disabled = self.busy;
      pair[0].addEventListener("click", function () { self.call("POST", path + pair[1]); });
      actions.appendChild(pair[0]);
    });
    box.appendChild(actions);
    if (this.busy) {
      box.appendChild(make("p", "chat-solution-text", t("solution_sending")));
    }
  };

  SolutionControl.prototype.answeredPart = function (box, key, outcomes) {
    var solution = this.solution;
    var who = solution.answered_by || {};
    var mine = who.account_id && who.account_id === this.accountId();
    box.appendChild(make("p", "chat-solution-text",
      mine ? t(key + "_you") : t(key, {name: who.name || t("key_user")})));
    if (outcomes[solution.outcome]) {
      box.appendChild(make("p", "chat-solution-text", t(outcomes[solution.outcome])));
    }
    if (solution.outcome === "new_request" && solution.portal_url && this.role !== "agent") {
      var link = make("a", "chat-solution-link", t("solution_new_request_link"));
      link.href = solution.portal_url;
      link.target = "_top";
      box.appendChild(link);
    }
  };

  SolutionControl.prototype.satisfactionPart = function (box) {
    var survey = this.solution.satisfaction;
    if (!survey) {
      return;
    }
    if (this.role === "agent") {
      var text = survey.answered ? t("satisfaction_agent", {rating: survey.rating})
        : survey.declined ? t("satisfaction_agent_declined") : t("satisfaction_agent_pending");
      box.appendChild(make("p", "chat-solution-text", text));
      if (survey.answered && survey.comment) {
        box.appendChild(make("p", "chat-solution-quote", survey.comment));
      }
      return;
    }
    if (survey.asked_to !== this.accountId()) {
      return;
    }
    if (survey.answered || survey.declined) {
      box.appendChild(make("p", "chat-solution-text", t(survey.answered ? "satisfaction_thanks" : "satisfaction_declined")));
      return;
    }
    box.appendChild(this.satisfactionForm());
  };

  SolutionControl.prototype.satisfactionForm = function () {
    var self = this;
    var id = "satisfaction-" + this.conversationId;
    var form = make("form", "chat-satisfaction");
    var fieldset = make("fieldset", "chat-satisfaction-rating");
    fieldset.appendChild(make("legend", null, t("satisfaction_legend")));
    var hint = make("p", "chat-hint", t("satisfaction_scale"));
    hint.id = id + "-scale";
    fieldset.setAttribute("aria-describedby", hint.id);
    RATINGS.forEach(function (rating) {
      var input = make("input");
      input.type = "radio";
      input.name = id + "-rating";
      input.value = String(rating);
      input.id = id + "-" + rating;
      var label = make("label", "chat-satisfaction-choice");
      label.htmlFor = input.id;
      label.appendChild(input);
      label.appendChild(make("span", null, String(rating)));
      label.appendChild(make("span", "visually-hidden", " " + t("satisfaction_out_of", {n: rating})));
      fieldset.appendChild(label);
    });
    fieldset.appendChild(hint);
    var commentLabel = make("label", "chat-label", t("satisfaction_comment"));
    commentLabel.htmlFor = id + "-comment";
    var comment = make("textarea", "chat-input");
    comment.id = id + "-comment";
    comment.rows = 2;
    comment.maxLength = 2000;
    var actions = make("div", "chat-actions");
    var send = make("button", "chat-button chat-button--primary", t("satisfaction_send"));
    send.type = "submit";
    var skip = make("button", "chat-button chat-button--subtle", t("satisfaction_skip"));
    skip.type = "button";
    [send, skip].forEach(function (button) { button.disabled = self.busy; actions.appendChild(button); });
    var problem = make("p", "chat-error");
    problem.setAttribute("role", "alert");
    problem.hidden = true;
    [fieldset, commentLabel, comment, actions, problem].forEach(form.appendChild, form);

    var path = "/chats/" + this.conversationId + "/satisfaction";
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var chosen = form.querySelector("input[type=radio]:checked");
      if (!chosen) {
        problem.textContent = t("satisfaction_choose");
        problem.hidden = false;
        return;
      }
      self.call("POST", path, {rating: Number(chosen.value), comment: comment.value});
    });
    skip.addEventListener("click", function () { self.call("POST", path, {declined: true}); });
    return form;
  };

  // ----- state changes -----

  SolutionControl.prototype.call = function (method, path, body) {
    var self = this;
    this.busy = true;
    this.error = "";
    this.redraw(this.solution);
    return SupportChat.client.api(method, path, body || {}).then(function (data) {
      self.busy = false;
      self.show(data && data.solution);
    }, function (error) {
      self.busy = false;
      self.error = error.message || error.code || "";
      self.redraw(self.solution);
    });
  };

  SolutionControl.prototype.refresh = function () {
    var self = this;
    SupportChat.client.api("GET", "/chats/" + this.conversationId + "/solution").then(function (data) {
      self.show(data && data.solution);
    }, function () {});
  };

  // Take a newer state and redraw the messages it concerns. A frame never carries the rating,
  // so a rating already known stays.
  SolutionControl.prototype.show = function (solution) {
    if (!solution) {
      return;
    }
    var previous = this.solution;
    if (previous && previous.id === solution.id && previous.satisfaction && solution.satisfaction &&
        solution.satisfaction.rating === undefined) {
      solution.satisfaction.rating = previous.satisfaction.rating;
      solution.satisfaction.comment = previous.satisfaction.comment;
    }
    this.solution = solution;
    this.redraw(previous);
    var survey = solution.satisfaction;
    if (this.role === "agent" && survey && survey.answered && survey.rating === undefined) {
      this.refresh();  // Frames leave the rating out, so agents read it from the API.
    }
  };

  SolutionControl.prototype.redraw = function (previous) {
    var ids = {};
    if (previous) {
      ids[previous.message_id] = true;
    }
    if (this.solution) {
      ids[this.solution.message_id] = true;
    }
    var self = this;
    Object.keys(ids).forEach(function (id) {
      if (self.payloads[id]) {
        self.view.upsert(self.payloads[id]);
      }
    });
    SupportChat.resize();
  };

  SolutionControl.prototype.showAlert = function (frame) {
    var who = (frame.solution && frame.solution.answered_by) || {};
    this.alert.textContent = t("solution_alert", {name: who.name || t("key_user")});
    this.alert.hidden = false;
    SupportChat.resize();
  };

  function attach(view, conversation, role) {
    var control = new SolutionControl(view, conversation, role);
    view.decorators = (view.decorators || []).concat([function (item, payload) { control.decorate(item, payload); }]);
    view.channel.on("solution", function (frame) { control.show(frame.solution); });
    // Keep the kept payloads' Jira state current: show() draws them again from these copies.
    view.channel.on("sync", function (frame) {
      (frame.message_ids || []).forEach(function (id) {
        if (control.payloads[id]) {
          control.payloads[id] = Object.assign({}, control.payloads[id], {sync_state: frame.sync_state});
        }
      });
    });
    view.channel.on("solution_alert", function (frame) {
      control.show(frame.solution);
      if (role === "agent") {
        control.showAlert(frame);
      }
    });
    view.channel.on("message", function (payload) {
      // The long-poll fallback brings the events without the frames, so fetch the state instead.
      if (payload.kind === "event" && /^(solution|satisfaction)_/.test(payload.event_type || "") &&
          view.channel.mode === "poll") {
        control.refresh();
      }
    });
    return control;
  }

  SupportChat.solution = {attach: attach};
})();
