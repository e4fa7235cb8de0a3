/*
 * Host side of the local Jira site's Connect bridge.
 *
 * Every app iframe is rendered with class "ap-frame" and data attributes naming its app, module,
 * app origin, channel, context and the query of its context-token request. This script replies to
 * the messages that all.js (the stand-in loaded inside the iframe) posts. It first checks that each
 * message comes from that iframe's window and from the app's origin.
 */
(function () {
  "use strict";

  var PROTOCOL = "devsite-xdm-1";
  var body = document.body;
  var siteRoot = body.getAttribute("data-site-root") || "";
  var viewer = {
    accountId: body.getAttribute("data-viewer-account") || null,
    locale: body.getAttribute("data-viewer-locale") || "en-US",
    timeZone: body.getAttribute("data-viewer-time-zone") || "UTC"
  };
  // Headers an app may set on AP.request; Jira controls the others (cookies, authorization).
  var ALLOWED_HEADERS = ["accept", "content-type", "x-atlassian-token", "x-experimentalapi"];

  function frames() {
    return Array.prototype.slice.call(document.querySelectorAll("iframe.ap-frame"));
  }

  function describe(iframe) {
    var context = {};
    try {
      context = JSON.parse(iframe.getAttribute("data-context") || "{}");
    } catch (error) {
      context = {};
    }
    return {
      iframe: iframe,
      appKey: iframe.getAttribute("data-app-key"),
      moduleKey: iframe.getAttribute("data-module-key"),
      origin: iframe.getAttribute("data-app-origin"),
      channel: iframe.getAttribute("data-channel"),
      tokenQuery: iframe.getAttribute("data-token-query") || "",
      context: context
    };
  }

  function frameOf(source) {
    var match = frames().filter(function (iframe) { return iframe.contentWindow === source; })[0];
    return match ? describe(match) : null;
  }

  function post(frame, message) {
    message.protocol = PROTOCOL;
    message.channel = frame.channel;
    frame.iframe.contentWindow.postMessage(message, frame.origin);
  }

  function sendEvent(frame, name, args) {
    post(frame, {event: name, args: args || []});
  }

  // Send a product event (e.g. ISSUE_GLANCE_OPENED) to every frame of one app.
  window.devsiteEmit = function (appKey, name, args) {
    frames().map(describe).forEach(function (frame) {
      if (frame.appKey === appKey) {
        sendEvent(frame, name, args);
      }
    });
  };

  function failure(status, message, response) {
    var error = new Error(message);
    error.status = status;
    error.response = response;
    return error;
  }

  function readResponse(response) {
    return response.text().then(function (text) {
      var headers = {};
      response.headers.forEach(function (value, name) { headers[name] = value; });
      return {status: response.status, statusText: response.statusText, body: text, headers: headers};
    });
  }

  function getToken(frame) {
    return fetch(siteRoot + "/_devsite/context-token?" + frame.tokenQuery, {credentials: "same-origin"})
      .then(readResponse)
      .then(function (response) {
        if (response.status !== 200) {
          throw failure(response.status, "The context token request failed with HTTP " + response.status + ".");
        }
        return JSON.parse(response.body).token;
      });
  }

  // Perform AP.request as the logged-in viewer: same-origin fetch carrying the session cookie.
  function request(args) {
    var url = String(args.url || "");
    if (url.indexOf("/rest/") !== 0 || url.indexOf("..") >= 0) {
      return Promise.reject(failure(400,
        "AP.request accepts only site-relative REST URLs starting with /rest/; got " + url + "."));
    }
    var headers = {};
    Object.keys(args.headers || {}).forEach(function (name) {
      if (ALLOWED_HEADERS.indexOf(name.toLowerCase()) >= 0) {
        headers[name] = args.headers[name];
      }
    });
    var init = {method: args.type || "GET", headers: headers, credentials: "same-origin"};
    if (args.body !== null && args.body !== undefined && init.method !== "GET") {
      init.body = args.body;
    }
    return fetch(siteRoot + url, init).then(readResponse).then(function (response) {
      if (response.status >= 400) {
        throw failure(response.status, "The REST call " + url + " failed with HTTP " + response.status + ".",
          response);
      }
      return response;
    });
  }

  function showFlag(args) {
    var container = document.getElementById("flags");
    if (!container) {
      return;
    }
    var flag = document.createElement("div");
    flag.className = "flag flag-" + (["success", "info", "warning", "error"].indexOf(args.type) >= 0
      ? args.type : "info");
    flag.setAttribute("role", "status");
    var title = document.createElement("strong");
    title.textContent = args.title || "";
    var text = document.createElement("div");
    text.textContent = args.body || "";
    var close = document.createElement("button");
    close.type = "button";
    close.className = "flag-close";
    close.textContent = "Dismiss";
    close.addEventListener("click", function () { flag.remove(); });
    flag.appendChild(title);
    flag.appendChild(text);
    flag.appendChild(close);
    container.appendChild(flag);
  }

  function cssSize(value) {
    var text = String(value);
    return /^\d+(\.\d+)?$/.test(text) ? text + "px" : text;
  }

  var handlers = {
    getToken: function (frame) { return getToken(frame); },
    getContext: function (frame) { return frame.context; },
    getLocale: function () { return viewer.locale; },
    getTimeZone: function () { return viewer.timeZone; },
    getCurrentUser: function () { return {atlassianAccountId: viewer.accountId}; },
    request: function (frame, args) { return request(args); },
    resize: function (frame, args) {
      if (args.height && /^[\d.]+(px|%)?$/.test(String(args.height))) {
        frame.iframe.style.height = cssSize(args.height);
      }
      if (args.width && /^[\d.]+(px|%)?$/.test(String(args.width))) {
        frame.iframe.style.width = cssSize(args.width);
      }
    },
    sizeToParent: function (frame) {
      var top = frame.iframe.getBoundingClientRect().top + window.scrollY;
      frame.iframe.style.width = "100%";
      frame.iframe.style.height = Math.max(300, window.innerHeight - top - 16) + "px";
    },
    flag: function (frame, args) { showFlag(args); },
    reload: function () { window.location.reload(); },
    emit: function (frame, args) {
      // App events go to the app's other frames on this page, as in Connect.
      frames().map(describe).forEach(function (other) {
        if (other.appKey === frame.appKey && other.iframe !== frame.iframe) {
          sendEvent(other, String(args.name), args.args || []);
        }
      });
    }
  };

  window.addEventListener("message", function (event) {
    var data = event.data;
    if (!data || data.protocol !== PROTOCOL) {
      return;
    }
    var frame = frameOf(event.source);
    if (!frame) {
      console.warn("Ignored a bridge message from a window that is not an app iframe of this page.");
      return;
    }
    if (event.origin !== frame.origin || data.channel !== frame.channel) {
      console.warn("Ignored a bridge message: origin " + event.origin + " or channel does not match the iframe of "
        + frame.appKey + "/" + frame.moduleKey + ".");
      return;
    }
    var handler = handlers[data.method];
    var result = handler
      ? Promise.resolve().then(function () { return handler(frame, data.args || {}); })
      : Promise.reject(failure(400, "Unknown bridge method " + data.method + "."));
    if (data.id === null || data.id === undefined) {
      result.catch(function (error) { console.warn(error.message); });
      return;
    }
    result.then(function (value) {
      post(frame, {id: data.id, ok: true, result: value === undefined ? null : value});
    }, function (error) {
      post(frame, {id: data.id, ok: false,
        error: {status: error.status || 0, message: error.message, response: error.response || null}});
    });
  });

  // A click on a glance opens its panel and sends the app the ISSUE_GLANCE_OPENED event, as Jira does.
  Array.prototype.slice.call(document.querySelectorAll("[data-glance-toggle]")).forEach(function (button) {
    button.addEventListener("click", function () {
      var panel = document.getElementById(button.getAttribute("aria-controls"));
      var opening = panel.hidden;
      panel.hidden = !opening;
      button.setAttribute("aria-expanded", opening ? "true" : "false");
      if (opening) {
        window.devsiteEmit(button.getAttribute("data-app-key"), "ISSUE_GLANCE_OPENED", []);
      }
    });
  });

  // The resolution select matters only when the target status is Resolved.
  var target = document.getElementById("transition-target");
  var resolution = document.getElementById("transition-resolution-row");
  if (target && resolution) {
    var update = function () {
      resolution.hidden = target.value !== "Resolved";
    };
    target.addEventListener("change", update);
    update();
  }
}());
