/* Canned replies in the agent's reply box: typing "/" and a shortcut lists the team's saved
 * replies; choosing one (Enter, Tab or a click) puts its text, with the chat's variables filled in
 * by the server, into the box. Nothing is sent until the agent sends it.
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var t = SupportChat.i18n.t;
  var TRIGGER = /^\/([a-z0-9_-]*)$/;
  var loaded = {};

  function repliesFor(projectKey) {
    var key = projectKey || "";
    if (!loaded[key]) {
      loaded[key] = SupportChat.client.api("GET", "/agent/canned-replies", undefined,
        projectKey ? {project_key: projectKey} : {}).then(function (data) {
        return data.replies || [];
      }, function () {
        delete loaded[key];
        return [];
      });
    }
    return loaded[key];
  }

  function attach(view, conversation, role, projectKey) {
    if (role !== "agent" || !view.input) {
      return;
    }
    var input = view.input;
    var menu = document.createElement("ul");
    menu.className = "chat-canned";
    menu.id = input.id + "-canned";
    menu.setAttribute("role", "listbox");
    menu.setAttribute("aria-label", t("canned_label"));
    menu.hidden = true;
    input.parentNode.insertBefore(menu, input.nextSibling);
    input.setAttribute("aria-controls", menu.id);
    input.setAttribute("aria-autocomplete", "list");
    var shown = [];
    var active = -1;

    function close() {
      menu.hidden = true;
      menu.textContent = "";
      shown = [];
      active = -1;
      input.removeAttribute("aria-activedescendant");
    }

    function highlight(index) {
      active = index;
      Array.prototype.forEach.call(menu.children, function (item, position) {
        item.setAttribute("aria-selected", position === index ? "true" : "false");
      });
      if (menu.children[index]) {
        input.setAttribute("aria-activedescendant", menu.children[index].id);
      }
    }

    function choose(reply) {
      close();
      var query = projectKey ? {project_key: projectKey} : {};
      SupportChat.client.api("GET", "/chats/" + conversation.id + "/canned-replies/" + encodeURIComponent(reply.shortcut),
        undefined, query).then(function (data) {
        input.value = data.text || "";
        input.focus();
        input.dispatchEvent(new Event("input"));
      }, function (error) {
        view.status.textContent = error.message;
      });
    }

    function open(prefix) {
      repliesFor(projectKey).then(function (replies) {
        var match = TRIGGER.exec(input.value);
        if (!match || match[1] !== prefix) {
          return;
        }
        shown = replies.filter(function (reply) { return reply.shortcut.indexOf(prefix) === 0; });
        menu.textContent = "";
        if (!shown.length) {
          var none = document.createElement("li");
          none.className = "chat-canned-none";
          none.textContent = replies.length ? t("canned_none") : t("canned_empty");
          menu.appendChild(none);
        }
        shown.forEach(function (reply, index) {
          var item = document.createElement("li");
          item.id = menu.id + "-" + index;
          item.setAttribute("role", "option");
          item.setAttribute("data-canned-shortcut", reply.shortcut);
          item.textContent = "/" + reply.shortcut + " — " + reply.title;
          item.addEventListener("mousedown", function (event) {
            event.preventDefault();
            choose(reply);
          });
          menu.appendChild(item);
        });
        menu.hidden = false;
        highlight(shown.length ? 0 : -1);
        SupportChat.resize();
      });
    }

    input.addEventListener("input", function () {
      var match = TRIGGER.exec(input.value);
      if (match) {
        open(match[1]);
      } else if (!menu.hidden) {
        close();
      }
    });
    // Registered in the capture phase, so that Enter picks a reply instead of sending "/…".
    input.addEventListener("keydown", function (event) {
      if (menu.hidden) {
        return;
      }
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (shown.length) {
          highlight((active + (event.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length);
        }
      } else if ((event.key === "Enter" || event.key === "Tab") && active >= 0) {
        event.preventDefault();
        event.stopImmediatePropagation();
        choose(shown[active]);
      } else if (event.key === "Escape") {
        event.preventDefault();
        close();
      }
    }, true);
    input.addEventListener("blur", function () { window.setTimeout(close, 150); });
  }

  SupportChat.canned = {attach: attach};
})();
