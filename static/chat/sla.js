/* The SLA line above an open conversation.
 *
 * Agents (issue glance) see the clock of the request: the deadline instant and a countdown to it
 * ("Réponse attendue avant 10:30 (dans 42 min)"), amber once the warning is due, red with
 * role="alert" once the deadline passed, "En pause (en attente du client)", and the time of the
 * first response once it was sent. Key users (portal footer and request panel) see when a
 * technician will answer ("Un technicien vous répondra avant lundi 10:30") and, outside opening
 * hours, when support opens. Their line goes once an agent has answered, and comes back when a
 * next-response round starts. Both show times in the support calendar's time zone, named when the
 * browser's differs.
 *
 * Business time is not wall time: the server places the deadline on the support calendar, and the
 * countdown here is wall time to that instant. The state comes from the conversation's `sla` field,
 * then from the live channel's frames, over the websocket or the long-poll: "sla" (agent view) for
 * agents, "sla_customer" (customer view) for key users. Each state carries a version, and a state
 * older than the one shown is ignored. Frames sent while a websocket was down are lost, so the
 * state is read again at each (re)connection. A timer redraws the countdown and shows the warning
 * or the breach as soon as its instant passes, without waiting for the frame.
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var t = SupportChat.i18n.t;
  var make = SupportChat.chatDom.make;
  var MINUTE_MS = 60000;
  var TICK_MS = 15000;
  var drawnLines = [];  // the SLA lines on the page, redrawn by their timers

  // ----- instants as text -----

  function lang() {
    return SupportChat.i18n.lang();
  }

  function dayKey(date, zone) {
    return new Intl.DateTimeFormat("en-CA", {timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit"})
      .format(date);
  }

  function timeText(date, zone) {
    return new Intl.DateTimeFormat(lang(), {timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23"})
      .format(date);
  }

  // Return {time, day}. `day` is null on the same calendar day as `now` in `zone`, else the
  // weekday, with the date when it is a week or more away.
  function when(date, zone, now) {
    var days = Math.round((Date.parse(dayKey(date, zone)) - Date.parse(dayKey(now, zone))) / 86400000);
    var day = null;
    if (days !== 0) {
      var options = Math.abs(days) < 7 ? {weekday: "long"} : {weekday: "long", day: "numeric", month: "long"};
      options.timeZone = zone;
      day = new Intl.DateTimeFormat(lang(), options).format(date);
    }
    return {time: timeText(date, zone), day: day};
  }

  // Return t(key + "_today") or t(key + "_day") with the instant's time and day, plus `params`.
  function sentence(key, date, zone, now, params) {
    var at = when(date, zone, now);
    return t(key + (at.day ? "_day" : "_today"), Object.assign({time: at.time, day: at.day}, params || {}));
  }

  function duration(minutes) {
    if (minutes < 60) {
      return t("sla_minutes", {n: minutes});
    }
    var hours = Math.floor(minutes / 60);
    if (hours < 24) {
      return minutes % 60 ? t("sla_hours_minutes", {h: hours, m: minutes % 60}) : t("sla_hours", {h: hours});
    }
    return hours % 24 ? t("sla_days_hours", {d: Math.floor(hours / 24), h: hours % 24})
      : t("sla_days", {d: Math.floor(hours / 24)});
  }

  function countdown(deadline, now) {
    return t("sla_in", {duration: duration(Math.max(1, Math.ceil((deadline - now) / MINUTE_MS)))});
  }

  function instant(text) {
    var date = text ? new Date(text) : null;
    return date && !isNaN(date.getTime()) ? date : null;
  }

  // Return whether SLA version `a` ("<clock id>.<change count>") is newer than `b`. A state without a
  // version is taken as newer than the one shown, because the server sent it last.
  function newer(a, b) {
    if (!a || !b) {
      return true;
    }
    var left = a.split(".").map(Number);
    var right = b.split(".").map(Number);
    return left[0] !== right[0] ? left[0] > right[0] : left[1] > right[1];
  }

  // The text of the zone note when the browser would show another time for `date` than `zone` does.
  function zoneNote(date, zone) {
    var otherZone = zone && date && timeText(date, zone) !== timeText(date, undefined);
    return otherZone ? t("sla_zone_note", {zone: zone}) : "";
  }

  // ----- the agent's clock -----

  function AgentClock(view, sla) {
    this.sla = sla;
    this.node = make("div", "sla-clock");
    this.node.setAttribute("data-sla-clock", "");
    this.node.setAttribute("role", "group");
    var line = make("p", "sla-line");
    this.lozenge = line.appendChild(make("span", "chat-lozenge sla-lozenge"));
    this.text = line.appendChild(make("span", null));
    this.text.setAttribute("data-sla-text", "");
    this.line = this.node.appendChild(line);
    this.alert = this.node.appendChild(make("p", "sla-alert"));
    this.alert.setAttribute("role", "alert");
    this.alert.setAttribute("data-sla-alert", "");
    this.detail = this.node.appendChild(make("p", "sla-detail"));
    this.zone = this.node.appendChild(make("p", "sla-zone"));
    this.announce = this.node.appendChild(make("p", "visually-hidden"));
    this.announce.setAttribute("aria-live", "polite");
    view.root.insertBefore(this.node, view.root.firstChild);
  }

  AgentClock.prototype.stateAt = function (now) {
    var sla = this.sla;
    if (sla.state === "met" || sla.state === "stopped" || sla.state === "paused") {
      return sla.state;
    }
    var deadline = instant(sla.deadline);
    var warningAt = instant(sla.warning_at);
    if (sla.breached || (deadline && now >= deadline)) {
      return "breached";
    }
    return sla.warned || (warningAt && now >= warningAt) ? "warning" : "running";
  };

  AgentClock.prototype.lineText = function (state, now) {
    var sla = this.sla;
    var zone = sla.timezone || undefined;
    var deadline = instant(sla.deadline);
    var metAt = instant(sla.met_at);
    if (state === "met" && metAt) {
      var key = (sla.kind === "next_response" ? "sla_answered" : "sla_first_answered") + (sla.breached ? "_late" : "");
      return sentence(key, metAt, zone, now);
    }
    if (state === "stopped") {
      return t("sla_stopped");
    }
    if (state === "paused" && instant(sla.held_until)) {
      return sentence("sla_held", instant(sla.held_until), zone, now);
    }
    if (state === "paused") {
      return typeof sla.remaining_minutes === "number"
        ? t("sla_paused_left", {duration: duration(sla.remaining_minutes)}) : t("sla_paused");
    }
    if (!deadline) {
      return t("sla_no_deadline");
    }
    if (state === "breached") {
      return "";
    }
    return sentence("sla_due", deadline, zone, now, {left: countdown(deadline, now)});
  };

  AgentClock.prototype.render = function () {
    var now = new Date();
    var zone = this.sla.timezone || undefined;
    var state = this.stateAt(now);
    var previous = this.node.getAttribute("data-sla-state");
    this.node.setAttribute("data-sla-state", state);
    this.node.setAttribute("aria-label", t(this.sla.kind === "next_response" ? "sla_next_clock" : "sla_first_clock"));

    this.text.textContent = this.lineText(state, now);
    this.line.hidden = state === "breached";
    this.lozenge.textContent = t("sla_warning_label");
    this.lozenge.hidden = state !== "warning";
    var deadline = instant(this.sla.deadline);
    // The alert's text changes only with the state, so screen readers announce the breach once.
    var alertText = state === "breached" && deadline ? sentence("sla_breached", deadline, zone, now) : "";
    if (this.alert.textContent !== alertText) {
      this.alert.textContent = alertText;
    }
    if (state === "warning" && previous && previous !== "warning" && deadline) {
      this.announce.textContent = sentence("sla_warning_announce", deadline, zone, now);
    }
    this.detail.textContent = t("sla_policy", {tier: this.sla.tier, priority: this.sla.priority});
    // Name the zone when the browser would show another time for the instant of the line.
    var shown = state === "met" ? instant(this.sla.met_at) : deadline;
    this.zone.textContent = state === "paused" || state === "stopped" ? "" : zoneNote(shown, zone);
    this.zone.hidden = !this.zone.textContent;
    return [instant(this.sla.warning_at), deadline];
  };

  // ----- the key user's answer-by line -----

  function AnswerBy(view, sla) {
    this.sla = sla;
    this.view = view;
    this.node = make("div", "sla-answer");
    this.node.setAttribute("data-sla-answer", "");
    this.closed = this.node.appendChild(make("p", "sla-closed"));
    this.answerBy = this.node.appendChild(make("p", "sla-answer-by"));
    this.zone = this.node.appendChild(make("p", "sla-zone"));
    view.root.insertBefore(this.node, view.root.firstChild);

    // A new public reply by an agent hides the line at once, and its "sla_customer" frame follows.
    var self = this;
    view.channel.on("message", function (payload) {
      var author = payload.author || {};
      var fresh = !payload.edited_at && !payload.deleted;
      if (fresh && author.role === "agent" && payload.kind === "message" && payload.visibility !== "internal") {
        self.sla = Object.assign({}, self.sla, {answered: true});
        keepDrawing(self);
      }
    });
  }

  AnswerBy.prototype.render = function () {
    var sla = this.sla;
    var now = new Date();
    var zone = sla.timezone || undefined;
    var answerBy = instant(sla.answer_by);
    var opensAt = instant(sla.support_opens_at);
    var overdue = sla.overdue || (answerBy && now >= answerBy);

    this.closed.textContent = opensAt && opensAt > now ? sentence("sla_support_closed", opensAt, zone, now) : "";
    if (overdue) {
      this.answerBy.textContent = t("sla_overdue");
    } else {
      this.answerBy.textContent = answerBy ? sentence("sla_answer_by", answerBy, zone, now) : "";
    }
    // Name the zone when the browser would show another time for the instants above.
    this.zone.textContent = zoneNote(answerBy || opensAt, zone);

    this.closed.hidden = !this.closed.textContent;
    this.answerBy.hidden = !this.answerBy.textContent;
    this.zone.hidden = !this.zone.textContent || (this.answerBy.hidden && this.closed.hidden);
    // A chat moved to e-mail or a classic ticket continues there: the chat makes no promise.
    this.node.hidden = sla.answered || this.view.movedAway || (this.answerBy.hidden && this.closed.hidden);
    return [answerBy, opensAt];
  };

  // ----- timers -----

  // Redraw `line` now, then at the next of its instants or after TICK_MS, while it is on the page.
  function keepDrawing(line) {
    if (!document.body.contains(line.node)) {
      drawnLines = drawnLines.filter(function (other) { return other !== line; });
      return;
    }
    var now = Date.now();
    var next = line.render().filter(function (date) { return date && date.getTime() > now; })
      .map(function (date) { return date.getTime() - now + 50; });
    window.clearTimeout(line.timer);
    line.timer = window.setTimeout(function () { keepDrawing(line); }, Math.min.apply(null, next.concat(TICK_MS)));
    SupportChat.resize();
  }

  function show(view, sla, role) {
    var line = role === "agent" ? new AgentClock(view, sla) : new AnswerBy(view, sla);
    drawnLines.push(line);
    keepDrawing(line);
    return line;
  }

  SupportChat.i18n.onChange(redraw);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      redraw();
    }
  });

  // Show the SLA line of `conversation` (an API conversation object) above `view`, and keep it
  // up to date from the live channel. A conversation listed without its `sla` field (the footer's
  // "Mes discussions") is read again to get it. One without a clock gets its line with the first
  // frame.
  function attach(view, conversation, role) {
    var channel = view.channel;
    var line = null;

    function apply(sla) {
      if (!sla || (line && !newer(sla.version, line.sla.version))) {
        return;
      }
      if (sla.version) {
        channel.slaVersion = sla.version;  // sent by the long-poll (poll.js)
      }
      if (line) {
        line.sla = sla;
        keepDrawing(line);
      } else {
        line = show(view, sla, role);
      }
    }

    function refresh() {
      if (!conversation.issue_key) {
        return;
      }
      SupportChat.client.api("GET", "/chats/by-issue/" + encodeURIComponent(conversation.issue_key), undefined,
        channel.query()).then(function (data) {
        apply(SupportChat.conversationOf(data).sla);
      }, function () {});
    }

    channel.on(role === "agent" ? "sla" : "sla_customer", function (frame) {
      apply(frame.sla);
    });
    channel.on("status", function (status) {
      if (status === "connected") {
        refresh();
      }
    });
    if (conversation.sla) {
      apply(conversation.sla);
    } else if (conversation.sla === undefined) {
      refresh();
    }
  }

  // Draw every line again, e.g. after a move changed what the key user's line may promise.
  function redraw() {
    drawnLines.forEach(keepDrawing);
  }

  SupportChat.sla = {attach: attach, redraw: redraw};
})();
