/* The SLA settings of the settings pages, part 1: shared form helpers, loading, and the business
 * calendar with its JSON export and import (the policies are in sla-policies.js).
 *
 * Everything is read from and saved to /api/admin/sla. The server validates every change as a
 * whole and names the invalid value in `error.field` (e.g. "calendar.hours.mon[1]"). The message
 * is shown once: next to the element whose data-sla-field is that path or the nearest enclosing
 * path, else above the form. Calendar errors carry `reason` and
 * `params`, from which the page words the message in its own language (sla_error_* texts). Each
 * form reports its outcome in its own status line, beside its buttons.
 * Texts come from templates/panels/sla_strings.html, are set with textContent only, and are
 * redrawn when the page switches to the viewer's Jira language.
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var section = document.querySelector("[data-sla-settings]");
  if (!section) {
    return;
  }
  var t = SupportChat.i18n.t;
  var client = SupportChat.client;
  var WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
  var TIME_RANGE = /^(\d{1,2}:\d\d)\s*[-–]\s*(\d{1,2}:\d\d)$/;
  var calendarForm = section.querySelector("[data-sla-calendar-form]");
  var importForm = section.querySelector("[data-sla-import-form]");
  var status = section.querySelector("[data-sla-status]");
  var fillers = [];
  var uid = 0;

  // ----- texts that follow the page language -----

  var labelled = [];

  // Set node's text (or attribute `attr`) to t(key, params) now and after every language switch.
  // `params` may be a function, evaluated at each drawing (weekday names depend on the language).
  function label(node, key, params, attr) {
    labelled.push({node: node, key: key, params: params, attr: attr});
    draw(labelled[labelled.length - 1]);
    return node;
  }

  function draw(entry) {
    var params = typeof entry.params === "function" ? entry.params() : entry.params;
    if (entry.attr) {
      entry.node.setAttribute(entry.attr, t(entry.key, params));
    } else {
      entry.node.textContent = t(entry.key, params);
    }
  }

  function redraw() {
    labelled = labelled.filter(function (entry) { return section.contains(entry.node); });
    labelled.forEach(draw);
  }

  SupportChat.i18n.onChange(redraw);

  function weekdayName(index) {
    // 1 January 2024 is a Monday.
    return new Intl.DateTimeFormat(SupportChat.i18n.lang(), {weekday: "long", timeZone: "UTC"})
      .format(new Date(Date.UTC(2024, 0, 1 + index)));
  }

  function monthName(year, month) {
    return new Intl.DateTimeFormat(SupportChat.i18n.lang(), {month: "long", timeZone: "UTC"})
      .format(new Date(Date.UTC(year, month - 1, 1)));
  }

  // ----- DOM helpers -----

  function make(tag, className, attributes) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    Object.keys(attributes || {}).forEach(function (name) {
      node.setAttribute(name, attributes[name]);
    });
    return node;
  }

  function nextId(prefix) {
    uid += 1;
    return "sla-" + prefix + "-" + uid;
  }

  // A labelled control in a .chat-field box with its error line: {box, control}.
  function field(control, key, params, path) {
    var box = make("div", "chat-field");
    if (path) {
      box.setAttribute("data-sla-field", path);
    }
    control.id = control.id || nextId("field");
    var caption = label(make("label"), key, params);
    caption.htmlFor = control.id;
    box.appendChild(caption);
    box.appendChild(control);
    box.appendChild(make("p", "chat-field-error", {hidden: ""}));
    return {box: box, control: control};
  }

  function button(key, params, onClick) {
    var node = make("button", "chat-button", {type: "button"});
    label(node, key, params);
    node.addEventListener("click", onClick);
    return node;
  }

  function lines(text) {
    return text.split("\n").map(function (line) { return line.trim(); }).filter(Boolean);
  }

  // ----- errors next to the fields -----

  function errorLine(box) {
    var nodes = box.querySelectorAll(".chat-field-error");
    for (var i = 0; i < nodes.length; i += 1) {
      if (nodes[i].parentNode === box) {
        return nodes[i];
      }
    }
    return null;
  }

  function controlsOf(box) {
    return Array.prototype.slice.call(box.querySelectorAll("input, select, textarea"));
  }

  function clearErrors(form) {
    Array.prototype.forEach.call(form.querySelectorAll(".chat-field-error"), function (node) {
      node.textContent = "";
      node.hidden = true;
    });
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid]"), function (node) {
      node.removeAttribute("aria-invalid");
    });
    var banner = form.querySelector("[data-sla-form-error]");
    banner.textContent = "";
    banner.hidden = true;
  }

  // Show `message` next to `box` (a [data-sla-field] element) and return the element to focus.
  // The controls of a single field are marked invalid, or only `control` when given (the closing
  // time of an interval row). A group (a weekday, a tier) gets the message on the group instead,
  // and the focus goes to the message.
  function showFieldError(box, message, control) {
    var line = errorLine(box);
    if (line) {
      line.id = line.id || nextId("error");
      line.textContent = message;
      line.hidden = false;
    }
    var controls = control ? [control] : controlsOf(box);
    if (controls.length > 2) {
      if (line) {
        box.setAttribute("aria-describedby", line.id);
        line.tabIndex = -1;
      }
      return line || controls[0];
    }
    controls.forEach(function (control) {
      control.setAttribute("aria-invalid", "true");
      var describedBy = (control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      if (line && describedBy.indexOf(line.id) < 0) {
        control.setAttribute("aria-describedby", describedBy.concat(line.id).join(" "));
      }
    });
    return controls[0] || null;
  }

  // Return the element of `path` in `form`, or that of the nearest enclosing path
  // ("calendar.hours.mon[1]" → "calendar.hours.mon" → "calendar.hours" → "calendar").
  function boxOf(form, path) {
    while (path) {
      var boxes = form.querySelectorAll("[data-sla-field]");
      for (var i = 0; i < boxes.length; i += 1) {
        if (boxes[i].getAttribute("data-sla-field") === path) {
          return boxes[i];
        }
      }
      var cut = Math.max(path.lastIndexOf("."), path.lastIndexOf("["));
      path = cut > 0 ? path.slice(0, cut) : "";
    }
    return null;
  }

  // Show `bannerText` above the form and each error of `errors` ([box, message] pairs) by its
  // field, then focus the first invalid control, else the banner. The stale success texts go.
  function showErrors(form, errors, bannerText) {
    say(form, "");
    var banner = form.querySelector("[data-sla-form-error]");
    banner.textContent = bannerText;
    banner.hidden = false;
    var first = null;
    errors.forEach(function (pair) {
      var control = pair[0] ? showFieldError(pair[0], pair[1]) : null;
      first = first || control;
    });
    (first || banner).focus();
  }

  // The words of a server error in the page's language: the sla_error_<reason> text when the
  // page has one, else the server's message (in the page's language, details possibly English).
  function errorText(error) {
    var key = "sla_error_" + error.reason;
    var params = error.params || {};
    if (params.month && params.year) {
      // A date that does not exist ("2026-02-30") is named with its month in the page's language.
      params = Object.assign({month_name: monthName(Number(params.year), Number(params.month))}, params);
    }
    var text = error.reason ? t(key, params) : key;
    return text === key ? error.message : text;
  }

  // Return where in a calendar file the error is, in words: "vendredi, plage 2", "jour de fermeture n° 1".
  function placeOf(field) {
    var path = (field || "").replace(/^calendar\.?/, "");
    var interval = /^(hours\.(\w+)|special_days\.([\d-]+))\[(\d+)\]$/.exec(path);
    var listed = /^(closed_days|worked_holidays)\[(\d+)\]$/.exec(path);
    if (interval && interval[2] && WEEKDAYS.indexOf(interval[2]) >= 0) {
      return t("sla_where_interval", {day: weekdayName(WEEKDAYS.indexOf(interval[2])), index: Number(interval[4]) + 1});
    }
    if (interval && interval[3]) {
      return t("sla_where_special_interval", {day: interval[3], index: Number(interval[4]) + 1});
    }
    if (/^hours\.(\w+)$/.test(path) && WEEKDAYS.indexOf(path.slice(6)) >= 0) {
      return weekdayName(WEEKDAYS.indexOf(path.slice(6)));
    }
    if (listed) {
      return t("sla_where_" + listed[1], {index: Number(listed[2]) + 1});
    }
    return "";
  }

  // Show a server error once: next to its field when the form has it, else above the form with
  // the place it names. The focus goes to the wrong control: for an interval, the time named.
  function showServerError(form, error) {
    var text = errorText(error);
    var box = error.field ? boxOf(form, error.field) : null;
    if (!box) {
      var place = placeOf(error.field);
      if (place && text !== error.message) {
        // "Vendredi, plage 2 : heure « 18h00 » illisible…": the place leads the sentence.
        text = t("sla_error_at", {place: place.charAt(0).toUpperCase() + place.slice(1),
                                  message: text.charAt(0).toLowerCase() + text.slice(1)});
      }
      showErrors(form, [], text);
      return;
    }
    say(form, "");
    var control = null;
    if (box.classList.contains("sla-interval") && error.params && error.params.role) {
      control = box.querySelectorAll("input")[error.params.role === "end" ? 1 : 0];
    }
    showFieldError(box, text, control).focus();
  }

  // Put `text` in the status line of `form`, beside its buttons, and empty the other forms'
  // lines, so that no earlier success stays next to a new outcome.
  function say(form, text) {
    Array.prototype.forEach.call(section.querySelectorAll("[data-sla-form-status]"), function (line) {
      line.textContent = "";
    });
    var line = form.querySelector("[data-sla-form-status]");
    if (line) {
      line.textContent = text;
    }
  }

  // ----- calls whose error names a field -----

  // Send the JSON `payload` to /api<path> through the client's transport. Resolve to the JSON
  // response, or reject with the client's Error, which carries status, code, field, reason and params.
  function send(method, path, payload) {
    return client.api(method, path, payload).catch(function (error) {
      if (!error || !error.status) {
        throw new Error(t("network_error"));
      }
      throw error;
    });
  }

  // Parse the text of a calendar file. A syntax error rejects as the server would name it
  // (reason bad_json, with the line and column), because the transport sends JSON objects only.
  function parseCalendarFile(text) {
    var content = text.replace(/^\uFEFF/, "");
    try {
      return Promise.resolve(JSON.parse(content));
    } catch (syntaxError) {
      var error = new Error(String(syntaxError && syntaxError.message));
      error.status = 400;
      error.code = "invalid_setting";
      error.reason = "bad_json";
      error.params = syntaxErrorPlace(content, error.message);
      return Promise.reject(error);
    }
  }

  // The line and column (from 1, as strings) of the first syntax error in `text`, whose
  // JSON.parse failed with `message`.
  function syntaxErrorPlace(text, message) {
    var named = /line (\d+) column (\d+)/.exec(message);
    if (named) {
      return {line: named[1], column: named[2]};
    }
    var offset = syntaxErrorOffset(text, message);
    var before = text.slice(0, offset).split("\n");
    return {line: String(before.length), column: String(before[before.length - 1].length + 1)};
  }

  // Chromium names the offset ("at position 28"), or reports "Unexpected end of JSON input", or only
  // names the unexpected token. For the last, the offset is the end of the shortest prefix of
  // `text` that fails before its own end. A calendar file is a few KB, so the scan is short.
  function syntaxErrorOffset(text, message) {
    var position = /at position (\d+)/.exec(message);
    if (position) {
      return Number(position[1]);
    }
    if (/end of JSON input/.test(message)) {
      return text.length;
    }
    for (var end = 1; end <= text.length; end += 1) {
      try {
        JSON.parse(text.slice(0, end));
      } catch (prefixError) {
        var prefixMessage = String(prefixError && prefixError.message);
        var at = /at position (\d+)/.exec(prefixMessage);
        if (/end of JSON input/.test(prefixMessage) || (at && Number(at[1]) >= end)) {
          continue;
        }
        return at ? Number(at[1]) : end - 1;
      }
    }
    return text.length;
  }

  // ----- the calendar: weekly hours -----

  function intervalRow(dayIndex, index, pair) {
    var row = make("div", "sla-interval");
    var day = function () { return {day: weekdayName(dayIndex), index: index + 1}; };
    [0, 1].forEach(function (end) {
      var input = make("input", "sla-time", {type: "text", inputmode: "numeric", maxlength: "5",
        autocomplete: "off", placeholder: end ? "18:00" : "09:00"});
      input.id = nextId("time");
      input.value = pair[end] || "";
      var caption = label(make("label", "visually-hidden"), end ? "sla_closing_label" : "sla_opening_label", day);
      caption.htmlFor = input.id;
      row.appendChild(caption);
      row.appendChild(input);
      if (!end) {
        row.appendChild(make("span", null, {"aria-hidden": "true"})).textContent = "–";
      }
    });
    row.appendChild(button("sla_remove_interval", day, function () {
      var rows = readDay(dayIndex);
      rows.splice(index, 1);
      drawDay(dayIndex, rows);
      weekdayBox(dayIndex).querySelector("[data-sla-add-interval]").focus();
    }));
    row.appendChild(make("p", "chat-field-error", {hidden: ""}));
    return row;
  }

  function weekdayBox(dayIndex) {
    return calendarForm.querySelector("[data-sla-weekday='" + WEEKDAYS[dayIndex] + "']");
  }

  // Return the [open, close] text pairs of a weekday as typed.
  function readDay(dayIndex) {
    return Array.prototype.map.call(weekdayBox(dayIndex).querySelectorAll(".sla-interval"), function (row) {
      var inputs = row.querySelectorAll("input");
      return [inputs[0].value.trim(), inputs[1].value.trim()];
    });
  }

  function drawDay(dayIndex, pairs) {
    var box = weekdayBox(dayIndex);
    var rows = box.querySelector("[data-sla-intervals]");
    rows.textContent = "";
    pairs.forEach(function (pair, index) { rows.appendChild(intervalRow(dayIndex, index, pair)); });
    box.querySelector("[data-sla-day-closed]").hidden = pairs.length > 0;
  }

  function buildWeekdays() {
    var container = calendarForm.querySelector("[data-sla-weekdays]");
    container.textContent = "";
    WEEKDAYS.forEach(function (name, dayIndex) {
      var box = make("fieldset", "sla-weekday", {"data-sla-weekday": name, "data-sla-field": "calendar.hours." + name});
      label(box.appendChild(make("legend")), "sla_weekday", function () {
        var day = weekdayName(dayIndex);
        return {day: day.charAt(0).toUpperCase() + day.slice(1)};
      });
      label(box.appendChild(make("p", "chat-hint", {"data-sla-day-closed": ""})), "sla_day_closed");
      box.appendChild(make("div", null, {"data-sla-intervals": ""}));
      var add = button("sla_add_interval", function () { return {day: weekdayName(dayIndex)}; }, function () {
        var pairs = readDay(dayIndex);
        pairs.push(["", ""]);
        drawDay(dayIndex, pairs);
        var inputs = box.querySelectorAll(".sla-interval input");
        inputs[inputs.length - 2].focus();
      });
      add.setAttribute("data-sla-add-interval", "");
      box.appendChild(add);
      box.appendChild(make("p", "chat-field-error", {hidden: ""}));
      container.appendChild(box);
    });
  }

  // ----- the calendar: special days -----

  // Append a special day's row to the list and return it.
  function specialRow(day, hours) {
    var row = make("div", "sla-special-day");
    var container = calendarForm.querySelector("[data-sla-special-days]");
    container.appendChild(row);
    var number = function () {
      return {index: Array.prototype.indexOf.call(container.children, row) + 1};
    };
    var date = make("input", null, {type: "date"});
    date.value = day || "";
    var text = make("input", null, {type: "text", autocomplete: "off", spellcheck: "false", placeholder: "09:00-12:00"});
    text.value = (hours || []).map(function (pair) { return pair[0] + "-" + pair[1]; }).join(", ");
    row.appendChild(field(date, "sla_special_date", number).box);
    row.appendChild(field(text, "sla_special_hours", number).box);
    row.appendChild(button("sla_remove_special_day", number, function () {
      row.remove();
      redraw();  // the rows after it move up one number
      calendarForm.querySelector("[data-sla-add-special-day]").focus();
    }));
    row.appendChild(make("p", "chat-field-error", {hidden: ""}));
    return row;
  }

  // ----- the calendar: holidays -----

  function fillSelect(select, items, value) {
    var keep = select.options[0];
    select.textContent = "";
    select.appendChild(keep);
    items.forEach(function (item) {
      var option = make("option");
      option.value = item.code;
      option.textContent = item.code === item.name ? item.code : item.name + " (" + item.code + ")";
      select.appendChild(option);
    });
    select.value = value || "";
  }

  function loadHolidayTables(country, subdivision) {
    var countrySelect = calendarForm.elements.country;
    var subdivisionSelect = calendarForm.elements.subdivision;
    return client.api("GET", "/admin/sla/holidays", undefined, {country: country || "FR"}).then(function (data) {
      if (countrySelect.options.length <= 1) {
        fillSelect(countrySelect, data.countries, country);
      }
      countrySelect.value = country || "";
      fillSelect(subdivisionSelect, country ? data.subdivisions : [], subdivision);
      subdivisionSelect.disabled = !country;
    });
  }

  // ----- the calendar: form ⇄ JSON -----

  function fillCalendar(calendar) {
    calendarForm.elements.timezone.value = calendar.timezone || "";
    WEEKDAYS.forEach(function (name, dayIndex) { drawDay(dayIndex, (calendar.hours || {})[name] || []); });
    var holidays = calendar.holidays || {};
    calendarForm.elements.closed_days.value = (calendar.closed_days || []).join("\n");
    calendarForm.elements.worked_holidays.value = (calendar.worked_holidays || []).join("\n");
    var special = calendarForm.querySelector("[data-sla-special-days]");
    special.textContent = "";
    Object.keys(calendar.special_days || {}).sort().forEach(function (day) {
      specialRow(day, calendar.special_days[day]);
    });
    return loadHolidayTables(holidays.country || "", holidays.subdivision || "");
  }

  function padTime(text) {
    return /^\d:\d\d$/.test(text) ? "0" + text : text;
  }

  // Read the calendar form: {calendar, errors}. Each row sent is tagged with the path the server
  // would name in an error about it; blank interval rows are left out.
  function readCalendar() {
    var errors = [];
    var hours = {};
    WEEKDAYS.forEach(function (name, dayIndex) {
      hours[name] = [];
      Array.prototype.forEach.call(weekdayBox(dayIndex).querySelectorAll(".sla-interval"), function (row) {
        var inputs = row.querySelectorAll("input");
        var pair = [padTime(inputs[0].value.trim()), padTime(inputs[1].value.trim())];
        row.removeAttribute("data-sla-field");
        if (!pair[0] && !pair[1]) {
          return;
        }
        row.setAttribute("data-sla-field", "calendar.hours." + name + "[" + hours[name].length + "]");
        hours[name].push(pair);
      });
    });

    var special = {};
    Array.prototype.forEach.call(calendarForm.querySelectorAll(".sla-special-day"), function (row) {
      var inputs = row.querySelectorAll("input");
      var day = inputs[0].value;
      row.setAttribute("data-sla-field", "calendar.special_days." + day);
      var ranges = inputs[1].value.split(/[,;]/).map(function (part) { return part.trim(); }).filter(Boolean);
      var parsed = ranges.map(function (range) {
        var match = TIME_RANGE.exec(range);
        return match ? [padTime(match[1]), padTime(match[2])] : null;
      });
      if (!day) {
        errors.push([row, t("sla_special_date_missing")]);
      } else if (parsed.indexOf(null) >= 0) {
        errors.push([row, t("sla_bad_hours")]);
      } else {
        special[day] = parsed;
      }
    });

    var country = calendarForm.elements.country.value;
    var calendar = {
      timezone: calendarForm.elements.timezone.value.trim(),
      hours: hours,
      holidays: country ? {country: country, subdivision: calendarForm.elements.subdivision.value || null} : null,
      closed_days: lines(calendarForm.elements.closed_days.value)
    };
    var worked = lines(calendarForm.elements.worked_holidays.value);
    if (worked.length) {
      calendar.worked_holidays = worked;
    }
    if (Object.keys(special).length) {
      calendar.special_days = special;
    }
    return {calendar: calendar, errors: errors};
  }

  function saved(form, key, data) {
    say(form, SupportChat.i18n.plural(key, data.recomputed || 0));
  }

  // ----- actions -----

  calendarForm.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(calendarForm);
    var read = readCalendar();
    if (read.errors.length) {
      showErrors(calendarForm, read.errors, t("form_invalid"));
      return;
    }
    clearErrors(importForm);
    say(calendarForm, t("sla_saving"));
    send("PUT", "/admin/sla", {calendar: read.calendar}).then(function (data) {
      fillCalendar(data.calendar);
      saved(calendarForm, "sla_calendar_saved", data);
    }, function (error) {
      showServerError(calendarForm, error);
    });
  });

  calendarForm.elements.country.addEventListener("change", function () {
    loadHolidayTables(calendarForm.elements.country.value, "");
  });

  calendarForm.querySelector("[data-sla-add-special-day]").addEventListener("click", function () {
    specialRow("", []).querySelector("input").focus();
  });

  section.querySelector("[data-sla-export]").addEventListener("click", function () {
    client.api("GET", "/admin/sla/calendar/export").then(function (calendar) {
      var blob = new Blob([JSON.stringify(calendar, null, 2) + "\n"], {type: "application/json"});
      var link = make("a", null, {download: "sla-calendar.json", href: URL.createObjectURL(blob)});
      document.body.appendChild(link);
      link.click();
      link.remove();
      window.setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
      say(calendarForm, t("sla_exported"));
    }, function (error) {
      showErrors(calendarForm, [], error.message);
    });
  });

  importForm.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(importForm);
    var file = importForm.elements.file.files[0];
    if (!file) {
      showErrors(importForm, [], t("sla_choose_file"));
      importForm.elements.file.focus();
      return;
    }
    clearErrors(calendarForm);
    say(importForm, t("sla_saving"));
    file.text().then(parseCalendarFile).then(function (calendar) {
      return send("PUT", "/admin/sla/calendar", calendar);
    }).then(function (data) {
      importForm.reset();
      fillCalendar(data.calendar);
      saved(importForm, "sla_calendar_imported", data);
    }, function (error) {
      showServerError(importForm, error);
    });
  });

  // ----- loading -----

  function load() {
    status.textContent = t("loading");
    return client.api("GET", "/admin/sla").then(function (data) {
      status.textContent = "";
      var fills = [fillCalendar(data.calendar)];
      fillers.forEach(function (fill) { fills.push(fill(data)); });
      return Promise.all(fills);
    }).then(null, function (error) {
      status.textContent = error.message;
    });
  }

  function listTimeZones() {
    var list = section.querySelector("#sla-timezones");
    var zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
    zones.forEach(function (zone) {
      var option = make("option");
      option.value = zone;
      list.appendChild(option);
    });
  }

  SupportChat.slaSettings = {
    label: label, redraw: redraw, make: make, field: field, button: button, lines: lines, nextId: nextId,
    clearErrors: clearErrors, showErrors: showErrors, showServerError: showServerError,
    send: send, say: say, saved: saved,
    // Register fn(data) to fill a part of the section from GET /api/admin/sla.
    onLoad: function (fn) { fillers.push(fn); }
  };

  buildWeekdays();
  listTimeZones();
  // sla-policies.js registers its part while the page's deferred scripts run, all of which
  // happens before DOMContentLoaded. A Forge Custom UI page loads the scripts after that event,
  // one by one, and then dispatches supportchat:forge-ready (forge/ui/bootstrap.js).
  var started = SupportChat.platform === "forge" ? "supportchat:forge-ready" : "DOMContentLoaded";
  document.addEventListener(started, function () {
    SupportChat.i18n.ready().then(load);
  });
})();
