/* The agent workspace settings of the settings pages: routing by product area and canned replies.
 *
 * Routing is read from and saved to /api/admin/routing, canned replies to
 * /api/admin/canned-replies. The server validates each list as a whole and its message names the
 * invalid value; it is shown in the form's status line. Texts come from
 * templates/panels/workspace_admin_strings.html and are set with textContent only.
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var section = document.querySelector("[data-workspace-settings]");
  if (!section) {
    return;
  }
  var t = SupportChat.i18n.t;
  var client = SupportChat.client;
  var routingForm = section.querySelector("[data-wsa-routing-form]");
  var routingStatus = section.querySelector("[data-wsa-routing-status]");
  var areasBody = section.querySelector("[data-wsa-areas]");
  var cannedForm = section.querySelector("[data-wsa-canned-form]");
  var cannedStatus = section.querySelector("[data-wsa-canned-status]");
  var repliesBox = section.querySelector("[data-wsa-replies]");
  var uid = 0;

  function make(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function input(name, value, label, maxLength) {
    var field = make("input");
    field.type = "text";
    field.name = name;
    field.value = value || "";
    field.maxLength = maxLength || 255;
    field.autocomplete = "off";
    field.setAttribute("aria-label", label);
    return field;
  }

  // ----- routing -----

  function drawRouting(data) {
    var routing = data.routing || {};
    areasBody.textContent = "";
    (data.product_areas || []).forEach(function (area) {
      var rule = (routing.areas || {})[area] || {};
      var row = make("tr");
      row.setAttribute("data-wsa-area", area);
      row.appendChild(make("th", null, area)).setAttribute("scope", "row");
      var group = make("td");
      group.appendChild(input("group", rule.group, t("wsa_group_of", {area: area})));
      var assignee = make("td");
      assignee.appendChild(input("assignee", rule.assignee, t("wsa_assignee_of", {area: area}), 128));
      var queue = make("td");
      queue.appendChild(input("queue_id", rule.queue_id, t("wsa_queue_of", {area: area}), 40));
      row.appendChild(group);
      row.appendChild(assignee);
      row.appendChild(queue);
      areasBody.appendChild(row);
    });
    routingForm.elements.default_group.value = routing.default_group || "";
    routingForm.elements.reoffer_after_secs.value = routing.reoffer_after_secs;
    routingForm.elements.max_chats_per_agent.value = routing.max_chats_per_agent;
    section.setAttribute("data-wsa-ready", "true");
  }

  function routingBody() {
    var areas = {};
    Array.prototype.forEach.call(areasBody.querySelectorAll("[data-wsa-area]"), function (row) {
      var group = row.querySelector("input[name=group]").value.trim();
      var assignee = row.querySelector("input[name=assignee]").value.trim();
      var queue = row.querySelector("input[name=queue_id]").value.trim();
      if (group || assignee || queue) {
        areas[row.getAttribute("data-wsa-area")] = {group: group || null, assignee: assignee || null,
                                                    queue_id: queue || null};
      }
    });
    return {
      areas: areas,
      default_group: routingForm.elements.default_group.value.trim() || null,
      reoffer_after_secs: Number(routingForm.elements.reoffer_after_secs.value),
      max_chats_per_agent: Number(routingForm.elements.max_chats_per_agent.value)
    };
  }

  routingForm.addEventListener("submit", function (event) {
    event.preventDefault();
    routingStatus.textContent = "";
    client.api("PUT", "/admin/routing", routingBody()).then(function () {
      routingStatus.textContent = t("wsa_routing_saved");
    }, function (error) {
      routingStatus.textContent = error.message;
    });
  });

  // ----- canned replies -----

  function replyBlock(reply) {
    uid += 1;
    var block = make("fieldset", "wsa-reply");
    block.setAttribute("data-wsa-reply", "");
    var legend = block.appendChild(make("legend"));
    [["shortcut", "wsa_shortcut", 32], ["title", "wsa_reply_title", 120]].forEach(function (spec) {
      var id = "wsa-" + spec[0] + "-" + uid;
      var field = make("div", "chat-field");
      var label = field.appendChild(make("label", null, t(spec[1])));
      label.htmlFor = id;
      var box = field.appendChild(input(spec[0], reply[spec[0]], t(spec[1]), spec[2]));
      box.removeAttribute("aria-label");
      box.id = id;
      block.appendChild(field);
    });
    [["body_fr", "wsa_body_fr"], ["body_en", "wsa_body_en"]].forEach(function (spec) {
      var id = "wsa-" + spec[0] + "-" + uid;
      var field = make("div", "chat-field");
      var label = field.appendChild(make("label", null, t(spec[1])));
      label.htmlFor = id;
      var area = field.appendChild(make("textarea"));
      area.name = spec[0];
      area.id = id;
      area.rows = 3;
      area.maxLength = 5000;
      area.value = reply[spec[0]] || "";
      block.appendChild(field);
    });
    var remove = block.appendChild(make("button", "chat-button", t("wsa_remove")));
    remove.type = "button";
    remove.addEventListener("click", function () {
      block.remove();
      numberReplies();
    });
    repliesBox.appendChild(block);
    numberReplies();
    return block;
  }

  function numberReplies() {
    Array.prototype.forEach.call(repliesBox.querySelectorAll("[data-wsa-reply]"), function (block, index) {
      block.querySelector("legend").textContent = t("wsa_reply_legend", {number: index + 1});
    });
  }

  function cannedBody() {
    return {replies: Array.prototype.map.call(repliesBox.querySelectorAll("[data-wsa-reply]"), function (block) {
      function value(name) {
        return block.querySelector("[name=" + name + "]").value;
      }
      return {shortcut: value("shortcut").trim(), title: value("title"), body_fr: value("body_fr"),
              body_en: value("body_en")};
    })};
  }

  section.querySelector("[data-wsa-add]").addEventListener("click", function () {
    replyBlock({}).querySelector("input").focus();
  });

  cannedForm.addEventListener("submit", function (event) {
    event.preventDefault();
    cannedStatus.textContent = "";
    client.api("PUT", "/admin/canned-replies", cannedBody()).then(function () {
      cannedStatus.textContent = t("wsa_canned_saved");
    }, function (error) {
      cannedStatus.textContent = error.message;
    });
  });

  SupportChat.i18n.ready().then(function () {
    client.api("GET", "/admin/routing").then(drawRouting, function (error) {
      routingStatus.textContent = error.message;
    });
    client.api("GET", "/admin/canned-replies").then(function (data) {
      repliesBox.textContent = "";
      (data.replies || []).forEach(replyBlock);
    }, function (error) {
      cannedStatus.textContent = error.message;
    });
  });
  SupportChat.i18n.onChange(numberReplies);
})();
