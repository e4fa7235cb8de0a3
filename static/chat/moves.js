/* Moving the conversation out of the chat (static side of addon/chat/moves.py).
 *
 * Agents get "Move the conversation": a target (mail, appointment, the ERP's tool, classic
 * ticket), a required reason and, for an appointment, up to three slots typed in the SLA
 * calendar's time zone. While a move is active they see it with its reason and can bring the
 * conversation back to the chat. The key user sees where the conversation continues. A move to
 * mail or to a classic ticket closes the reply box. A move to the ERP's tool shows its message and
 * link. An appointment offers its slots, then the invitation (.ics) to download.
 * Every text a person typed is set with textContent, and links are accepted only as http(s).
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var t = SupportChat.i18n.t;
  var make = SupportChat.chatDom.make;
  var TARGETS = ["mail", "appointment", "erp_tool", "classic_ticket"];
  var SLOTS_MAX = 3;

  function safeUrl(value, httpsOnly) {
    try {
      var url = new URL(value);
      var allowed = httpsOnly ? url.protocol === "https:" : url.protocol === "https:" || url.protocol === "http:";
      return allowed ? url.toString() : null;
    } catch (error) {
      return null;
    }
  }

  var fieldCount = 0;

  // Return a <div> with a <label> tied to `control` by id, so the label alone names it.
  function field(text, control) {
    fieldCount += 1;
    control.id = "chat-move-field-" + fieldCount;
    var wrapper = make("div", "chat-move-field");
    var label = make("label", "chat-label", text);
    label.htmlFor = control.id;
    wrapper.appendChild(label);
    wrapper.appendChild(control);
    return wrapper;
  }

  // Format an ISO instant in the calendar's time zone, in the page's language.
  function slotText(iso, zone) {
    var options = {weekday: "long", day: "numeric", month: "long", hour: "2-digit", minute: "2-digit",
      hourCycle: "h23", timeZone: zone || undefined};
    try {
      return new Intl.DateTimeFormat(SupportChat.i18n.lang(), options).format(new Date(iso));
    } catch (error) {
      return iso;
    }
  }

  function MoveControl(view, conversation, role, projectKey) {
    this.view = view;
    this.conversation = conversation;
    this.role = role;
    this.query = projectKey ? {project_key: projectKey} : {};
    this.move = null;
    this.busy = false;
    this.box = make("section", "chat-move");
    this.box.setAttribute("data-chat-move", "");
    this.box.setAttribute("aria-label", t("move_title"));
    view.root.insertBefore(this.box, view.logRegion);
    var self = this;
    view.channel.on("move", function () { self.load(); });
    SupportChat.i18n.onChange(function () { self.render(); });
    this.load();
  }

  MoveControl.prototype.path = function (suffix) {
    return "/chats/" + this.conversation.id + suffix;
  };

  MoveControl.prototype.load = function () {
    var self = this;
    return SupportChat.client.api("GET", this.path("/move"), undefined, this.query).then(function (data) {
      self.move = (data && data.move) || null;
      self.render();
    }, function (error) {
      self.showError(error.message);
    });
  };

  MoveControl.prototype.call = function (path, payload) {
    var self = this;
    if (this.busy) {
      return Promise.resolve();
    }
    this.busy = true;
    this.error = "";
    return SupportChat.client.api("POST", path, payload, this.query).then(function () {
      self.busy = false;
      self.formOpen = false;
      return self.load();
    }, function (error) {
      self.busy = false;
      self.showError(error.message);
    });
  };

  MoveControl.prototype.showError = function (message) {
    var line = this.box.querySelector("[data-move-error]");
    if (!line) {
      line = make("p", "chat-move-error");
      line.setAttribute("role", "alert");
      line.setAttribute("data-move-error", "");
      this.box.appendChild(line);
    }
    line.textContent = message || t("network_error");
    SupportChat.resize();
  };

  MoveControl.prototype.render = function () {
    this.box.textContent = "";
    var move = this.move;
    var closed = !!(move && move.closes_chat && this.role !== "agent");
    this.view.form.hidden = closed || this.conversation.can_write === false;
    if (this.view.movedAway !== closed) {
      this.view.movedAway = closed;
      if (SupportChat.sla) {
        SupportChat.sla.redraw();
      }
    }
    this.box.setAttribute("data-target", move ? move.target : "");
    if (this.role === "agent") {
      this.renderAgent(move);
    } else if (move) {
      this.renderCustomer(move);
    }
    this.box.hidden = !this.box.firstChild;
    SupportChat.resize();
  };

  // -- agents ---------------------------------------------------------------------------------

  MoveControl.prototype.renderAgent = function (move) {
    var self = this;
    if (move) {
      this.box.appendChild(make("p", "chat-move-text", t("move_agent_" + move.target,
        {name: (move.moved_by && move.moved_by.name) || ""})));
      this.box.appendChild(make("p", "chat-move-reason", t("move_reason_shown", {reason: move.reason || ""})));
      if (move.target === "appointment") {
        this.box.appendChild(make("p", "chat-move-text", move.slot_start
          ? t("move_slot_chosen", {slot: slotText(move.slot_start, move.time_zone)})
          : t("move_slots_waiting")));
      }
      var back = make("form", "chat-move-form");
      var reason = make("input", "chat-move-input");
      reason.name = "reason";
      back.appendChild(field(t("move_back_reason"), reason));
      var button = make("button", "chat-button", t("move_back"));
      button.type = "submit";
      button.setAttribute("data-move-back", "");
      back.appendChild(button);
      back.addEventListener("submit", function (event) {
        event.preventDefault();
        self.call(self.path("/moves/back"), {reason: reason.value.trim() || null});
      });
      this.box.appendChild(back);
      return;
    }
    var open = make("button", "chat-button chat-move-open", t("move_open"));
    open.type = "button";
    open.setAttribute("data-move-open", "");
    open.setAttribute("aria-expanded", this.formOpen ? "true" : "false");
    open.addEventListener("click", function () {
      self.formOpen = !self.formOpen;
      self.render();
    });
    this.box.appendChild(open);
    if (this.formOpen) {
      this.box.appendChild(this.moveForm());
    }
  };

  MoveControl.prototype.moveForm = function () {
    var self = this;
    var form = make("form", "chat-move-form");
    form.setAttribute("data-move-form", "");
    var select = make("select", "chat-move-input");
    select.name = "target";
    TARGETS.forEach(function (target) {
      var option = make("option", null, t("move_target_" + target));
      option.value = target;
      select.appendChild(option);
    });
    form.appendChild(field(t("move_target"), select));

    var reason = make("textarea", "chat-move-input");
    reason.name = "reason";
    reason.setAttribute("aria-required", "true");  // checked on submit, with the message below
    reason.maxLength = 1000;
    form.appendChild(field(t("move_reason"), reason));

    var slots = make("fieldset", "chat-move-slots");
    slots.appendChild(make("legend", null, t("move_slots_legend")));
    for (var i = 0; i < SLOTS_MAX; i += 1) {
      var input = make("input", "chat-move-input");
      input.type = "datetime-local";
      input.name = "slot";
      slots.appendChild(field(t("move_slot_n", {n: i + 1}), input));
    }
    var duration = make("input", "chat-move-input");
    duration.type = "number";
    duration.name = "duration";
    duration.min = "15";
    duration.max = "480";
    slots.appendChild(field(t("move_duration"), duration));
    form.appendChild(slots);
    function showSlots() {
      slots.hidden = select.value !== "appointment";
      SupportChat.resize();
    }
    select.addEventListener("change", showSlots);
    showSlots();

    var submit = make("button", "chat-button", t("move_submit"));
    submit.type = "submit";
    form.appendChild(submit);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!reason.value.trim()) {
        self.showError(t("move_reason_required"));
        reason.focus();
        return;
      }
      var payload = {target: select.value, reason: reason.value};
      if (select.value === "appointment") {
        payload.slots = Array.prototype.map.call(form.querySelectorAll("input[name=slot]"), function (field) {
          return field.value;
        }).filter(Boolean);
        if (duration.value) {
          payload.duration_minutes = parseInt(duration.value, 10);
        }
      }
      self.call(self.path("/moves"), payload);
    });
    return form;
  };

  // -- the key user ---------------------------------------------------------------------------

  MoveControl.prototype.renderCustomer = function (move) {
    var name = (move.moved_by && move.moved_by.name) || t("support");
    if (move.target === "mail") {
      this.box.appendChild(make("p", "chat-move-text", t("move_customer_mail", {name: name})));
    } else if (move.target === "classic_ticket") {
      this.box.appendChild(make("p", "chat-move-text", t("move_customer_classic_ticket", {name: name})));
      var portal = safeUrl(move.portal_request_url, false);
      if (portal) {
        var link = make("a", "chat-move-link", t("move_open_request"));
        link.href = portal;
        link.target = "_top";
        this.box.appendChild(link);
      }
    } else if (move.target === "erp_tool") {
      this.renderTool(move.erp_tool || {}, name);
    } else if (move.target === "appointment") {
      this.renderAppointment(move, name);
    }
  };

  MoveControl.prototype.renderTool = function (tool, name) {
    var english = SupportChat.i18n.lang() === "en" && tool.message_en;
    this.box.appendChild(make("p", "chat-move-text", t("move_customer_erp_tool", {name: name, tool: tool.name || ""})));
    this.box.appendChild(make("p", "chat-move-quote", english ? tool.message_en : tool.message_fr || ""));
    var url = safeUrl(tool.link, true);
    if (url) {
      var link = make("a", "chat-button chat-move-link", t("move_open_tool", {tool: tool.name || ""}));
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.setAttribute("data-move-tool", "");
      this.box.appendChild(link);
    }
  };

  MoveControl.prototype.renderAppointment = function (move, name) {
    var self = this;
    if (move.slot_start) {
      this.box.appendChild(make("p", "chat-move-text", t("move_slot_confirmed",
        {slot: slotText(move.slot_start, move.time_zone), minutes: move.duration_minutes})));
      if (move.invitation_available) {
        var download = make("a", "chat-move-link", t("move_invitation"));
        download.href = "#";
        download.setAttribute("data-move-invitation", "");
        download.addEventListener("click", function (event) {
          event.preventDefault();
          self.downloadInvitation(move);
        });
        this.box.appendChild(download);
      }
      return;
    }
    this.box.appendChild(make("p", "chat-move-text", t("move_customer_appointment",
      {name: name, minutes: move.duration_minutes})));
    var list = make("ul", "chat-move-slot-list");
    (move.slots || []).forEach(function (slot, index) {
      var item = make("li");
      var button = make("button", "chat-button", slotText(slot.start, move.time_zone));
      button.type = "button";
      button.setAttribute("data-move-slot", String(index));
      button.addEventListener("click", function () {
        self.call(self.path("/moves/" + move.id + "/slot"), {slot: index});
      });
      item.appendChild(button);
      list.appendChild(item);
    });
    this.box.appendChild(list);
  };

  // The file needs the chat's credential, which a plain link cannot carry, so it is fetched through
  // the client's transport and saved.
  MoveControl.prototype.downloadInvitation = function (move) {
    var self = this;
    var path = "/api" + this.path("/moves/" + move.id + "/invitation.ics");
    SupportChat.client.download(path).then(function (response) {
      if (!response.ok) {
        throw new Error(t("move_invitation_failed"));
      }
      return response.blob();
    }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      var anchor = make("a");
      anchor.href = url;
      anchor.download = "rendez-vous-" + self.conversation.issue_key + ".ics";
      document.body.appendChild(anchor);
      anchor.click();
      anchor.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 0);
    }).then(null, function (error) {
      self.showError(error.message || t("move_invitation_failed"));
    });
  };

  SupportChat.moves = {
    attach: function (view, conversation, role, projectKey) {
      return new MoveControl(view, conversation, role, projectKey);
    },
    safeUrl: safeUrl
  };
})();
