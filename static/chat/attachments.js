/* Files in the chat: pick or paste a file (screenshots first), and show the files of the conversation.
 *
 * The composer gets a "Joindre un fichier" button. Pasting an image from the clipboard into the
 * message box also sends it, and so does dropping a file on the composer. The file is checked here
 * against the site's limits (GET /api/attachments/limits) before it leaves the page, then sent with
 * POST /api/chats/<id>/attachments, which checks it again and has the last word. A rejected file
 * gets a line naming the limit it broke.
 *
 * A message whose payload has an `attachment` shows an image as a thumbnail and any other file as
 * a link with its name and size. The add-on serves files only with the chat's token, so they are
 * fetched through the client's transport (a context JWT on Connect, requestRemote on Forge) and
 * shown from blob: URLs. Agents also see whether the file is on the Jira
 * request yet ("attachment" frames of the websocket carry its progress). File names are only ever
 * set with textContent or attributes.
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat;
  var t = SupportChat.i18n.t;
  var make = SupportChat.chatDom.make;
  var client = SupportChat.client;
  var KIB = 1024;
  var MIB = 1024 * 1024;
  var JIRA_TEXT = {
    pending: "attachment_jira_pending",
    sending: "attachment_jira_pending",
    failed: "attachment_jira_failed",
    synced: "attachment_jira_synced"
  };

  var limitsPromise = null;

  // The site's limits, fetched once per page; null when they could not be read (the server checks anyway).
  function loadLimits() {
    if (!limitsPromise) {
      limitsPromise = client.api("GET", "/attachments/limits").then(function (data) {
        return (data && data.limits) || null;
      }, function () {
        limitsPromise = null;
        return null;
      });
    }
    return limitsPromise;
  }

  function sizeText(bytes) {
    var number = new Intl.NumberFormat(SupportChat.i18n.lang(), {maximumFractionDigits: 1});
    if (bytes >= MIB) {
      return number.format(bytes / MIB) + " " + t("attachment_unit_mb");
    }
    if (bytes >= KIB) {
      return number.format(bytes / KIB) + " " + t("attachment_unit_kb");
    }
    return bytes + " " + t("attachment_unit_b");
  }

  function extensionOf(name) {
    var dot = name.lastIndexOf(".");
    return dot > 0 ? name.slice(dot + 1).toLowerCase() : "";
  }

  function pad(number) {
    return (number < 10 ? "0" : "") + number;
  }

  // A pasted screenshot comes as "image.png"; give it a name that says when it was taken.
  function nameOf(file, pasted) {
    var type = (file.type || "").split("/")[1] || "png";
    if (file.name && !pasted) {
      return file.name;
    }
    var now = new Date();
    return "capture-" + now.getFullYear() + pad(now.getMonth() + 1) + pad(now.getDate()) + "-" +
      pad(now.getHours()) + pad(now.getMinutes()) + pad(now.getSeconds()) + "." + (type === "jpeg" ? "jpg" : type);
  }

  // The sentence that rejects the file under `limits`, or "" when the file may be sent.
  function rejection(name, size, limits) {
    if (!limits) {
      return "";
    }
    var lang = SupportChat.i18n.lang() === "en" ? "en" : "fr";
    if (size > limits.max_bytes) {
      var shown = sizeText(size);
      if (shown === sizeText(limits.max_bytes)) {
        // Both round to the same text: give the exact size, so that it reads larger than the limit.
        shown = new Intl.NumberFormat(SupportChat.i18n.lang()).format(size) + " " + t("attachment_unit_b");
      }
      return t("attachment_too_large", {name: name, size: shown, max: limits["max_size_" + lang]});
    }
    if ((limits.extensions || []).indexOf(extensionOf(name)) < 0) {
      return t("attachment_type_refused", {name: name, allowed: limits["allowed_" + lang]});
    }
    return "";
  }

  function AttachmentControl(view, conversation, role) {
    this.view = view;
    this.conversationId = conversation.id;
    this.role = role;
    this.payloads = {};  // message id → latest payload, to redraw a message when its file's state changes
    this.blobs = {};  // attachment id → Promise of a blob: URL
    if (view.form && !view.form.hidden && conversation.can_write !== false) {
      this.buildComposer();
    }
  }

  // ----- sending -----

  AttachmentControl.prototype.buildComposer = function () {
    var self = this;
    var view = this.view;
    var id = "chat-file-" + Math.random().toString(36).slice(2, 8);
    this.picker = make("input");
    this.picker.type = "file";
    this.picker.id = id;
    this.picker.className = "visually-hidden";
    this.picker.tabIndex = -1;
    this.picker.setAttribute("aria-hidden", "true");
    this.button = make("button", "chat-button chat-attach-button", t("attachment_attach"));
    this.button.type = "button";
    this.button.setAttribute("aria-describedby", id + "-hint");
    this.hint = make("p", "chat-hint chat-attach-hint");
    this.hint.id = id + "-hint";
    this.error = make("p", "chat-error chat-attach-error");
    this.error.setAttribute("role", "alert");
    this.error.hidden = true;

    var actions = view.form.querySelector(".chat-actions") || view.form;
    actions.insertBefore(this.button, actions.firstChild);
    actions.appendChild(this.picker);
    view.form.appendChild(this.hint);
    view.form.appendChild(this.error);

    this.button.addEventListener("click", function () { self.picker.click(); });
    this.picker.addEventListener("change", function () {
      Array.prototype.forEach.call(self.picker.files || [], function (file) { self.send(file, false); });
      self.picker.value = "";
    });
    view.input.addEventListener("paste", function (event) {
      var files = filesOf(event.clipboardData);
      if (files.length) {
        event.preventDefault();
        files.forEach(function (file) { self.send(file, true); });
      }
    });
    view.form.addEventListener("dragover", function (event) {
      if (event.dataTransfer && Array.prototype.indexOf.call(event.dataTransfer.types || [], "Files") >= 0) {
        event.preventDefault();
      }
    });
    view.form.addEventListener("drop", function (event) {
      var files = filesOf(event.dataTransfer);
      if (files.length) {
        event.preventDefault();
        files.forEach(function (file) { self.send(file, false); });
      }
    });
    loadLimits().then(function (limits) {
      if (limits) {
        self.limits = limits;
        var lang = SupportChat.i18n.lang() === "en" ? "en" : "fr";
        self.hint.textContent = t("attachment_hint", {max: limits["max_size_" + lang]});
        self.picker.accept = (limits.extensions || []).map(function (ext) { return "." + ext; }).join(",");
      }
    });
  };

  function filesOf(transfer) {
    if (!transfer) {
      return [];
    }
    if (transfer.files && transfer.files.length) {
      return Array.prototype.slice.call(transfer.files);
    }
    return Array.prototype.filter.call(transfer.items || [], function (item) {
      return item.kind === "file";
    }).map(function (item) { return item.getAsFile(); }).filter(Boolean);
  }

  AttachmentControl.prototype.showError = function (text) {
    if (!this.error) {
      return;  // a reader without the composer has no line for errors
    }
    this.error.textContent = text;
    this.error.hidden = !text;
    SupportChat.resize();
  };

  AttachmentControl.prototype.send = function (file, pasted) {
    var self = this;
    var name = nameOf(file, pasted);
    var rejected = rejection(name, file.size, this.limits);
    if (rejected) {
      this.showError(rejected);
      return;
    }
    this.showError("");
    var internal = !!(this.view.internal && this.view.internal.checked);
    if (internal) {
      this.view.endInternalNote();
    }
    var clientId = client.newClientId();
    this.view.upsert({
      local: true, client_message_id: clientId, kind: "message", event_type: "attachment",
      body: name, visibility: internal ? "internal" : "public", created_at: new Date().toISOString(),
      author: {account_id: this.view.accountId, role: this.role, name: null},
      attachment: {filename: name, size_bytes: file.size, local: true}
    });
    var form = new FormData();
    form.append("file", file, name);
    form.append("client_message_id", clientId);
    form.append("visibility", internal ? "internal" : "public");
    upload(this.conversationId, form).then(function (data) {
      if (data && data.message) {
        self.view.upsert(data.message);
      }
    }, function (error) {
      // The reason shows once, in the alert under the composer, where a file refused by the
      // page's own checks shows too. Screen readers announce it from there.
      self.view.markFailed({client_message_id: clientId, message: error.message}, true);
      // The bubble says "not sent" now, so it must stop saying "sending".
      var bubble = self.view.items["local:" + clientId];
      var sending = bubble && bubble.querySelector(".chat-attachment-state");
      if (sending) {
        sending.remove();
      }
      self.showError(t("attachment_failed", {name: name, error: error.message}));
    });
  };

  // POST the form through the client's transport. Resolve to the JSON response, or reject with its error message.
  function upload(conversationId, form) {
    var lang = SupportChat.i18n.lang();
    var path = "/api/chats/" + conversationId + "/attachments?lang=" + encodeURIComponent(lang);
    return client.upload(path, form, {Accept: "application/json"}).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        if (response.ok) {
          return data;
        }
        if (response.status === 401) {
          client.dropCredentials();
        }
        throw new Error((data && data.error && data.error.message) || t("network_error"));
      });
    }, function () {
      throw new Error(t("network_error"));
    });
  }

  // ----- showing -----

  // The file's bytes as a blob: URL, fetched once through the client's transport.
  AttachmentControl.prototype.blobUrl = function (attachment) {
    var self = this;
    if (!this.blobs[attachment.id]) {
      this.blobs[attachment.id] = client.download(attachment.url).then(function (response) {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.blob();
      }).then(function (blob) {
        return URL.createObjectURL(blob);
      }).catch(function (error) {
        delete self.blobs[attachment.id];
        throw error;
      });
    }
    return this.blobs[attachment.id];
  };

  // View.render calls this for every message it draws.
  AttachmentControl.prototype.decorate = function (item, payload) {
    var attachment = payload.attachment;
    if (!attachment || payload.deleted) {
      return;
    }
    if (payload.id && !payload.local) {
      this.payloads[payload.id] = payload;
    }
    item.classList.add("chat-message--attachment");
    var text = item.querySelector(".chat-text");
    var box = make("div", "chat-attachment");
    box.setAttribute("data-attachment", attachment.filename);
    if (attachment.local) {
      box.appendChild(make("span", "chat-attachment-name", attachment.filename));
      box.appendChild(make("span", "chat-attachment-size", sizeText(attachment.size_bytes)));
      box.appendChild(make("span", "chat-attachment-state", t("attachment_sending")));
    } else if (attachment.is_image) {
      box.appendChild(this.thumbnail(attachment));
    } else {
      box.appendChild(this.link(attachment));
      box.appendChild(make("span", "chat-attachment-size", sizeText(attachment.size_bytes)));
    }
    if (text) {
      text.replaceWith(box);
    } else {
      item.appendChild(box);
    }
    if (this.role === "agent" && !attachment.local && JIRA_TEXT[attachment.sync_state]) {
      var state = make("p", "chat-attachment-jira", t(JIRA_TEXT[attachment.sync_state]));
      state.setAttribute("data-jira-state", attachment.sync_state);
      if (attachment.jira_attachment_id) {
        state.setAttribute("data-jira-attachment-id", attachment.jira_attachment_id);
      }
      box.appendChild(state);
    }
  };

  AttachmentControl.prototype.thumbnail = function (attachment) {
    var link = make("a", "chat-attachment-thumbnail");
    link.setAttribute("download", attachment.filename);
    link.setAttribute("aria-label", t("attachment_download", {name: attachment.filename}));
    link.href = "#";
    var image = make("img");
    image.alt = t("attachment_image_alt", {name: attachment.filename});
    link.appendChild(image);
    this.blobUrl(attachment).then(function (url) {
      image.src = url;
      link.href = url;
      image.addEventListener("load", SupportChat.resize);
    }, function () {
      link.replaceWith(make("span", "chat-error", t("attachment_load_failed")));
    });
    return link;
  };

  AttachmentControl.prototype.link = function (attachment) {
    var self = this;
    var link = make("a", "chat-attachment-link", attachment.filename);
    link.href = "#";
    link.setAttribute("download", attachment.filename);
    link.setAttribute("aria-label", t("attachment_download", {name: attachment.filename}));
    link.addEventListener("click", function (event) {
      if (link.getAttribute("data-ready")) {
        return;  // the blob: URL is in place: let the browser download it
      }
      event.preventDefault();
      self.blobUrl(attachment).then(function (url) {
        link.href = url;
        link.setAttribute("data-ready", "true");
        link.click();
      }, function () {
        self.showError(t("attachment_load_failed"));
      });
    });
    return link;
  };

  // An "attachment" frame: the file reached Jira, or an attempt failed. Redraw its message.
  AttachmentControl.prototype.update = function (frame) {
    var payload = this.payloads[frame.message_id];
    if (payload && frame.attachment) {
      var updated = Object.assign({}, payload, {attachment: frame.attachment});
      this.view.upsert(updated);
    }
  };

  function attach(view, conversation, role) {
    var control = new AttachmentControl(view, conversation, role);
    view.decorators = (view.decorators || []).concat([function (item, payload) { control.decorate(item, payload); }]);
    view.channel.on("attachment", function (frame) { control.update(frame); });
    return control;
  }

  SupportChat.attachments = {attach: attach, rejection: rejection, sizeText: sizeText, loadLimits: loadLimits};
})();
