/* Unread messages: the "New messages" separator in an opened chat, and the counts of the portal launcher.
 *
 * In a chat, the separator goes above the first entry after the viewer's read mark
 * (conversation.last_read_seq from the API) that someone else wrote. System events that follow
 * the viewer's own event ("Demande résolue" after their "Solution validée") are its consequences,
 * not news, so the separator skips them too. The log stays scrolled to it
 * while the history arrives, until the viewer scrolls, types or sends. The view marks what it shows
 * as read (messages.js), so the counts clear once the chat has been open.
 *
 * In the launcher, each chat of "Mes discussions" shows its unread count, and the "Mes discussions"
 * buttons show the total. The counts are read from GET /api/chats when the page loads, every
 * REFRESH_MS while the page is visible, when it becomes visible again, and when the viewer leaves a chat.
 * TODO: push the counts over the websocket instead of reading them every REFRESH_MS, once the
 * socket can follow a person's chats without counting as "connected to the chat" for agents.
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var t = SupportChat.i18n.t;
  var REFRESH_MS = 15000;
  // Leaving a chat sends its read mark as the channel closes. The counts are read this long after,
  // when the server has stored the mark.
  var AFTER_CHAT_REFRESH_MS = 1500;
  var SCROLL_MARGIN_PX = 8;

  // ----- the separator in a chat -----

  function isOwn(view, payload) {
    var author = payload.author || {};
    return !!author.account_id && author.account_id === view.accountId;
  }

  // Return whether the system event `item` follows the viewer's own event, with only system
  // events between them in the log.
  function followsOwnEvent(item) {
    if (!item.classList.contains("chat-message--event") || !item.classList.contains("chat-message--system")) {
      return false;
    }
    for (var node = item.previousElementSibling; node; node = node.previousElementSibling) {
      if (node.hasAttribute("data-unread-separator")) {
        continue;
      }
      if (!node.classList.contains("chat-message--event")) {
        return false;
      }
      if (node.classList.contains("chat-message--mine")) {
        return true;
      }
      if (!node.classList.contains("chat-message--system")) {
        return false;
      }
    }
    return false;
  }

  // Closing a channel (the launcher's "Retour") clears its timers, and with them a read mark still
  // waiting for its debounce. Send that mark before the channel closes, so the counts clear.
  function flushReadOnClose(channel) {
    var close = channel.close;
    channel.close = function () {
      var seq = channel.lastSeq;
      if (!channel.closed && channel.timers.read && seq > channel.readSent) {
        channel.readSent = seq;
        if (!channel.sendFrame({type: "read", conversation_id: channel.id, seq: seq})) {
          SupportChat.client.api("POST", "/chats/" + channel.id + "/read", {seq: seq}, channel.query())
            .catch(function () {});
        }
      }
      close.call(channel);
    };
  }

  function attach(view, conversation) {
    flushReadOnClose(view.channel);
    var lastRead = conversation && typeof conversation.last_read_seq === "number" ? conversation.last_read_seq : null;
    if (lastRead === null) {
      return;
    }
    var separator = null;
    var pinned = true;
    var original = view.upsert;

    function unpin() {
      pinned = false;
    }

    function keepInView() {
      if (!separator || !pinned) {
        return;
      }
      var region = view.logRegion;
      var offset = separator.getBoundingClientRect().top - region.getBoundingClientRect().top;
      region.scrollTop += offset - SCROLL_MARGIN_PX;
    }

    function place(payload) {
      var item = view.items["id:" + payload.id];
      if (!item || item.hidden || followsOwnEvent(item)) {
        return;
      }
      // A plain list item, because a list may only contain list items (role="separator" would break that).
      separator = SupportChat.chatDom.make("li", "chat-unread-separator");
      separator.setAttribute("data-unread-separator", "");
      // Between the last read entry and this one, so that messages.js places later entries after it.
      separator.setAttribute("data-seq", String(payload.seq - 0.5));
      separator.appendChild(SupportChat.chatDom.make("span", "chat-unread-label", t("new_messages")));
      item.parentNode.insertBefore(separator, item);
    }

    view.upsert = function (payload) {
      original.call(view, payload);
      if (!separator && !payload.local && payload.seq > lastRead && !isOwn(view, payload)) {
        place(payload);
      }
      keepInView();
    };

    ["wheel", "touchstart", "keydown"].forEach(function (name) {
      view.logRegion.addEventListener(name, unpin, {passive: true});
    });
    view.input.addEventListener("input", unpin);
    view.form.addEventListener("submit", unpin);
    SupportChat.i18n.onChange(function () {
      var label = separator && separator.querySelector(".chat-unread-label");
      if (label) {
        label.textContent = t("new_messages");
      }
    });
  }

  // ----- the launcher's counts -----

  function watchLauncher(launcher) {
    var timer = null;
    var listButtons = launcher.querySelectorAll("[data-action='list']");

    function totalBadge(button) {
      var badge = button.querySelector("[data-unread-total]");
      if (!badge) {
        // Inside the button, so that its accessible name includes the count.
        badge = SupportChat.chatDom.make("span", "chat-badge chat-badge--total");
        badge.setAttribute("data-unread-total", "");
        badge.hidden = true;
        button.appendChild(document.createTextNode(" "));
        button.appendChild(badge);
      }
      return badge;
    }

    function countText(count) {
      return SupportChat.i18n.plural("unread", count);
    }

    function showTotal(total) {
      Array.prototype.forEach.call(listButtons, function (button) {
        var badge = totalBadge(button);
        badge.textContent = total > 0 ? countText(total) : "";
        badge.hidden = total <= 0;
        badge.setAttribute("data-count", String(total));
      });
    }

    // Update the badges of the chats listed now; launcher.js draws the list and its first counts.
    function showPerChat(chats) {
      chats.forEach(function (chat) {
        var button = launcher.querySelector(".chat-list-item[data-conversation-id='" + Number(chat.id) + "']");
        if (!button) {
          return;
        }
        var badge = button.querySelector(".chat-badge");
        if (chat.unread > 0) {
          if (!badge) {
            badge = SupportChat.chatDom.make("span", "chat-badge");
            button.appendChild(badge);
          }
          badge.textContent = countText(chat.unread);
        } else if (badge) {
          badge.remove();
        }
      });
    }

    function refresh() {
      window.clearTimeout(timer);
      timer = null;
      if (document.visibilityState === "hidden") {
        return;
      }
      SupportChat.client.api("GET", "/chats").then(function (data) {
        var chats = SupportChat.client.listOf(data);
        showTotal(chats.reduce(function (sum, chat) { return sum + (chat.unread > 0 ? chat.unread : 0); }, 0));
        showPerChat(chats);
        SupportChat.resize();
      }, function (error) {
        if (window.console) {
          window.console.warn("Support chat: reading the unread counts failed: " + error.message);
        }
      }).then(function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(refresh, REFRESH_MS);
      });
    }

    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") {
        refresh();
      }
    });
    // Leaving a chat (back to the home view or to the list) sends its last read mark, so the counts change.
    launcher.addEventListener("click", function (event) {
      var action = event.target.closest("[data-action]");
      var chatView = launcher.querySelector("[data-view='chat']");
      if (action && chatView && chatView.contains(action)) {
        window.setTimeout(refresh, AFTER_CHAT_REFRESH_MS);
      }
    });
    SupportChat.i18n.onChange(refresh);
    SupportChat.i18n.ready().then(refresh);
  }

  SupportChat.unread = {attach: attach};

  var launcher = document.querySelector("[data-launcher]");
  if (launcher) {
    watchLauncher(launcher);
  }
})();
