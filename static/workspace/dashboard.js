/* The live chat dashboard (Jira project page): chats waiting for this agent, the agent's own, and
 * every open chat of the project; the chosen chat opens beside the lists with its reply box.
 *
 * The lists come from GET /api/agent/desk every POLL_MS; that call also keeps the agent's presence
 * alive. A chat that newly waits for this agent rings once and, when the agent allowed it, shows a
 * browser notification. Every text a user typed goes through textContent, never innerHTML.
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var root = document.querySelector("[data-desk]");
  if (!root || !SupportChat) {
    return;
  }
  var t = SupportChat.i18n.t;
  var POLL_MS = 4000;
  var projectKey = root.getAttribute("data-project-key") || null;
  var siteUrl = (root.getAttribute("data-site-url") || "").replace(/\/+$/, "");
  var query = projectKey ? {project_key: projectKey} : {};
  var listEl = root.querySelector("[data-desk-list]");
  var teamEl = root.querySelector("[data-desk-team]");
  var presenceEl = root.querySelector("[data-desk-presence]");
  var notifyButton = root.querySelector("[data-desk-notify]");
  var hint = root.querySelector("[data-desk-hint]");
  var actions = root.querySelector("[data-desk-actions]");
  var claimButton = root.querySelector("[data-desk-claim]");
  var transferForm = root.querySelector("[data-desk-transfer]");
  var result = root.querySelector("[data-desk-result]");
  var chatEl = root.querySelector("[data-desk-chat]");
  var tabs = Array.prototype.slice.call(root.querySelectorAll("[data-desk-tab]"));

  var state = {tab: "unclaimed", desk: null, selected: null, opened: null, waiting: null};

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    return node;
  }

  function minutesSince(iso) {
    return Math.max(0, Math.floor((Date.now() - new Date(iso).getTime()) / 60000));
  }

  // "Waiting for 0 min" reads like no wait at all, so the first minute has its own text.
  function waitingText(minutes) {
    return minutes < 1 ? t("desk_waiting_recent") : t("desk_waiting", {minutes: minutes});
  }

  // A deadline with its day, in the SLA calendar's time zone, as the agent panel shows it.
  function deadlineOf(iso, zone) {
    var options = {weekday: "long", hour: "2-digit", minute: "2-digit", hourCycle: "h23"};
    if (zone) {
      options.timeZone = zone;
    }
    try {
      return new Date(iso).toLocaleString(SupportChat.i18n.lang(), options);
    } catch (error) {
      delete options.timeZone;  // an unknown zone name: the browser's own zone, rather than nothing
      return new Date(iso).toLocaleString(SupportChat.i18n.lang(), options);
    }
  }

  function say(text) {
    result.textContent = text || "";
  }

  // -- lists ------------------------------------------------------------------------------------

  // The display name of a colleague, from the team list, else their accountId.
  function nameOf(accountId) {
    var team = (state.desk && state.desk.team) || [];
    for (var i = 0; i < team.length; i += 1) {
      if (team[i].account_id === accountId) {
        return team[i].name || accountId;
      }
    }
    return accountId || "";
  }

  function chatLine(chat) {
    var item = el("li", "desk-chat");
    item.setAttribute("data-desk-chat-key", chat.issue_key);
    if (state.selected === chat.issue_key) {
      item.classList.add("desk-chat-selected");
    }
    var open = el("button", "desk-chat-open");
    open.type = "button";
    open.appendChild(el("strong", null, chat.issue_key));
    open.appendChild(el("span", "desk-chat-summary", " " + (chat.summary || "")));
    open.addEventListener("click", function () { select(chat.issue_key); });
    item.appendChild(open);

    var facts = el("p", "desk-chat-facts");
    var routing = chat.routing || {};
    var parts = [chat.organization_name, chat.product_area,
      routing.assignee ? null : waitingText(minutesSince(chat.created_at)),
      t(chat.customer_connected ? "desk_customer_here" : "desk_customer_away")];
    if (chat.unread) {
      parts.push(SupportChat.i18n.plural("desk_unread", chat.unread));
    }
    var sla = chat.sla || {};
    if (sla.breached) {
      parts.push(t("desk_sla_breached"));
    } else if (sla.deadline && sla.state === "running") {
      parts.push(t("desk_sla_left", {time: deadlineOf(sla.deadline, sla.timezone)}));
    }
    if (routing.assignee) {
      parts.push(t("desk_held_by", {name: routing.assignee.name || routing.assignee.account_id}));
    } else if (routing.state === "offered" && routing.directed) {
      parts.push(t("desk_transferred_to", {name: nameOf((routing.offered_to || [])[0])}));
    } else if (routing.state === "offered" && !(routing.offered_to || []).length) {
      parts.push(t("desk_no_agent_yet", {group: routing.group || t("desk_all_agents")}));
    } else if (routing.state === "offered") {
      parts.push(t("desk_offered", {group: routing.group || t("desk_all_agents")}));
    }
    facts.textContent = parts.filter(Boolean).join(" · ");
    item.appendChild(facts);
    if (chat.queue_id && siteUrl && projectKey) {
      // The JSM queue the site's routing names for the chat's product area, in Jira itself.
      var queue = el("a", "desk-chat-queue", t("desk_queue_link"));
      queue.href = siteUrl + "/jira/servicedesk/projects/" + encodeURIComponent(projectKey) +
        "/queues/custom/" + encodeURIComponent(chat.queue_id);
      queue.target = "_top";
      item.appendChild(queue);
    }
    return item;
  }

  function drawTabs() {
    var lists = (state.desk && state.desk.lists) || {unclaimed: [], mine: [], all: []};
    tabs.forEach(function (tab) {
      var name = tab.getAttribute("data-desk-tab");
      tab.textContent = t("desk_tab_" + name, {count: (lists[name] || []).length});
      tab.setAttribute("aria-selected", name === state.tab ? "true" : "false");
    });
    listEl.textContent = "";
    var chats = lists[state.tab] || [];
    if (!chats.length) {
      listEl.appendChild(el("li", "desk-empty", t("desk_empty_" + state.tab)));
    }
    chats.forEach(function (chat) { listEl.appendChild(chatLine(chat)); });
  }

  function drawTeam() {
    var team = (state.desk && state.desk.team) || [];
    teamEl.textContent = "";
    team.forEach(function (member) {
      var text = SupportChat.i18n.plural("desk_team_member", member.open_chats, {
        name: member.name || member.account_id,
        status: t("desk_presence_" + member.status)
      });
      teamEl.appendChild(el("li", "desk-member desk-member-" + member.status, text));
    });
    var select = transferForm.elements.to_account_id;
    var chosen = select.value;
    while (select.options.length > 1) {
      select.remove(1);
    }
    team.forEach(function (member) {
      if (state.desk.me && member.account_id === state.desk.me.account_id) {
        return;
      }
      var option = el("option", null, member.name || member.account_id);
      option.value = member.account_id;
      select.appendChild(option);
    });
    select.value = chosen;
    drawGroups();
  }

  // The transfer form suggests the groups of the site's routing.
  function drawGroups() {
    var groups = transferForm.elements.to_group;
    groups.setAttribute("list", "desk-groups");
    var datalist = document.getElementById("desk-groups") || el("datalist");
    datalist.id = "desk-groups";
    datalist.textContent = "";
    ((state.desk && state.desk.groups) || []).forEach(function (name) {
      var option = el("option");
      option.value = name;
      datalist.appendChild(option);
    });
    if (!datalist.parentNode) {
      transferForm.appendChild(datalist);
    }
  }

  // -- announcing new chats --------------------------------------------------------------------

  function ring() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) {
      return;
    }
    try {
      var audio = new Context();
      var tone = audio.createOscillator();
      var gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.value = 0.1;
      tone.connect(gain);
      gain.connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.2);
    } catch (error) {
      // A browser that blocks sound before a click stays silent; the list still shows the chat.
    }
  }

  function announce(chat) {
    ring();
    var live = document.getElementById("chat-live");
    if (live) {
      live.textContent = t("desk_new_chat", {key: chat.issue_key, summary: chat.summary || ""});
    }
    if (window.Notification && window.Notification.permission === "granted") {
      try {
        new window.Notification(t("desk_notify_title", {key: chat.issue_key}), {body: chat.summary || ""});
      } catch (error) {
        // Some browsers allow notifications only from a service worker; the sound and the list remain.
      }
    }
  }

  function noticeNewChats(desk) {
    var now = {};
    (desk.lists.unclaimed || []).forEach(function (chat) {
      now[chat.issue_key] = chat;
    });
    if (state.waiting !== null) {
      Object.keys(now).forEach(function (key) {
        if (!state.waiting[key]) {
          announce(now[key]);
        }
      });
    }
    state.waiting = now;
  }

  // -- polling ---------------------------------------------------------------------------------

  function refresh() {
    return SupportChat.client.api("GET", "/agent/desk", undefined, query).then(function (desk) {
      state.desk = desk;
      noticeNewChats(desk);
      if (document.activeElement !== presenceEl && desk.me) {
        presenceEl.value = desk.me.chosen_status;
      }
      drawTabs();
      drawTeam();
      drawActions();
      root.setAttribute("data-desk-ready", "true");
      SupportChat.resize();
    }, function (error) {
      say(error.message || t("desk_load_failed"));
    });
  }

  function poll() {
    refresh().then(function () { window.setTimeout(poll, POLL_MS); });
  }

  // -- the chosen chat -------------------------------------------------------------------------

  function chosenChat() {
    var all = (state.desk && state.desk.lists.all) || [];
    for (var i = 0; i < all.length; i += 1) {
      if (all[i].issue_key === state.selected) {
        return all[i];
      }
    }
    return null;
  }

  function drawActions() {
    var chat = chosenChat();
    actions.hidden = !chat;
    if (!chat) {
      return;
    }
    var routing = chat.routing || {};
    var mine = routing.assignee && state.desk.me && routing.assignee.account_id === state.desk.me.account_id;
    claimButton.hidden = !!mine;
  }

  function select(issueKey) {
    if (state.selected === issueKey) {
      return;
    }
    state.selected = issueKey;
    say("");
    if (state.opened) {
      state.opened.channel.close();
      state.opened = null;
    }
    chatEl.textContent = "";
    hint.hidden = true;
    drawTabs();
    drawActions();
    SupportChat.client.api("GET", "/chats/by-issue/" + encodeURIComponent(issueKey), undefined, query)
      .then(function (data) {
        if (state.selected !== issueKey) {
          return;
        }
        state.opened = SupportChat.openConversation(chatEl, SupportChat.conversationOf(data), "agent", projectKey);
      }, function (error) {
        say(error.message || t("load_failed"));
      });
  }

  claimButton.addEventListener("click", function () {
    var chat = chosenChat();
    if (!chat) {
      return;
    }
    claimButton.disabled = true;
    SupportChat.client.api("POST", "/chats/" + chat.id + "/claim", {}, query).then(function (data) {
      say(data.warning || t("desk_claimed"));
      state.tab = "mine";
      return refresh();
    }, function (error) {
      say(error.message);
    }).then(function () { claimButton.disabled = false; });
  });

  transferForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var chat = chosenChat();
    if (!chat) {
      return;
    }
    var group = transferForm.elements.to_group.value.trim();
    var agent = transferForm.elements.to_account_id.value;
    if (!group === !agent) {
      say(t("desk_transfer_pick"));
      return;
    }
    var body = {note: transferForm.elements.note.value};
    if (group) {
      body.to_group = group;
    } else {
      body.to_account_id = agent;
    }
    SupportChat.client.api("POST", "/chats/" + chat.id + "/transfer", body, query).then(function (data) {
      say(data.warning || t("desk_transferred"));
      transferForm.reset();
      return refresh();
    }, function (error) {
      say(error.message);
    });
  });

  tabs.forEach(function (tab) {
    tab.addEventListener("click", function () {
      state.tab = tab.getAttribute("data-desk-tab");
      drawTabs();
    });
  });

  presenceEl.addEventListener("change", function () {
    SupportChat.client.api("PUT", "/agent/presence", {status: presenceEl.value}, query).then(refresh, function (error) {
      say(error.message);
    });
  });

  if (window.Notification && window.Notification.permission === "default") {
    notifyButton.hidden = false;
    notifyButton.addEventListener("click", function () {
      window.Notification.requestPermission().then(function () { notifyButton.hidden = true; });
    });
  }

  SupportChat.i18n.onChange(function () {
    drawTabs();
    drawTeam();
  });
  SupportChat.i18n.ready().then(poll);
})();
