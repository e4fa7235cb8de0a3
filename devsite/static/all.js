/*
 * Stand-in for Atlassian Connect's all.js, served by the local Jira site.
 *
 * It runs inside the app's iframe (the app's origin) and talks to the host page (the site's
 * origin) by window.postMessage, as the real simple-xdm bridge does. The host page reads the
 * parameters Jira appends to every iframe URL: xdm_e (the host base URL) and xdm_c (the channel).
 * Only the subset of the AP API that the local site supports is defined. As in the real all.js,
 * every asynchronous call accepts a callback and also returns a Promise.
 */
(function () {
  "use strict";

  var PROTOCOL = "devsite-xdm-1";
  var script = document.currentScript;
  var params = new URLSearchParams(window.location.search);
  var hostBase = params.get("xdm_e") || "";
  var channel = params.get("xdm_c") || "";
  var hostOrigin = originOf(hostBase);
  var options = readOptions(script && script.getAttribute("data-options"));
  var pending = {};
  var nextId = 1;
  var listeners = {};
  var anyListeners = [];

  function originOf(url) {
    try {
      return new URL(url).origin;
    } catch (error) {
      return "";
    }
  }

  function readOptions(text) {
    var result = {};
    (text || "").split(";").forEach(function (pair) {
      var index = pair.indexOf(":");
      if (index > 0) {
        result[pair.slice(0, index).trim()] = pair.slice(index + 1).trim();
      }
    });
    return result;
  }

  function warn(message) {
    if (window.console) {
      window.console.warn("[all.js stand-in] " + message);
    }
  }

  // Send one call to the host page and return a Promise of its result.
  function call(method, args) {
    if (!hostOrigin || !channel || window.parent === window) {
      return Promise.reject(new Error(
        "This page is not inside the local Jira site: the xdm_e or xdm_c query parameter is missing."));
    }
    var id = String(nextId++);
    var message = {protocol: PROTOCOL, channel: channel, id: id, method: method, args: args || {}};
    return new Promise(function (resolve, reject) {
      pending[id] = {resolve: resolve, reject: reject};
      window.parent.postMessage(message, hostOrigin);
    });
  }

  // Send a notification that expects no reply.
  function notify(method, args) {
    if (hostOrigin && channel && window.parent !== window) {
      window.parent.postMessage(
        {protocol: PROTOCOL, channel: channel, id: null, method: method, args: args || {}}, hostOrigin);
    }
  }

  // Run the optional Node-style callback of a Promise-returning API function.
  function withCallback(promise, callback) {
    if (typeof callback === "function") {
      promise.then(function (value) { callback(value); }, function (error) {
        warn(String(error && error.message || error));
      });
    }
    return promise;
  }

  window.addEventListener("message", function (event) {
    // Only the host page that loaded this iframe may reply, so check both its window and its origin.
    if (event.source !== window.parent || event.origin !== hostOrigin) {
      return;
    }
    var data = event.data;
    if (!data || data.protocol !== PROTOCOL || data.channel !== channel) {
      return;
    }
    if (data.event) {
      dispatch(data.event, data.args || []);
      return;
    }
    var entry = pending[data.id];
    if (!entry) {
      return;
    }
    delete pending[data.id];
    if (data.ok) {
      entry.resolve(data.result);
    } else {
      var error = new Error(data.error && data.error.message || "The host page rejected the call.");
      error.status = data.error && data.error.status;
      error.response = data.error && data.error.response;
      entry.reject(error);
    }
  });

  // ----- events -----

  function dispatch(name, args) {
    (listeners[name] || []).slice().forEach(function (entry) {
      if (entry.once) {
        off(name, entry.fn);
      }
      entry.fn.apply(null, args);
    });
    anyListeners.slice().forEach(function (fn) {
      fn.apply(null, [name].concat(args));
    });
  }

  function on(name, fn, once) {
    (listeners[name] = listeners[name] || []).push({fn: fn, once: !!once});
  }

  function off(name, fn) {
    listeners[name] = (listeners[name] || []).filter(function (entry) {
      return entry.fn !== fn;
    });
  }

  var events = {
    on: function (name, fn) { on(name, fn, false); },
    once: function (name, fn) { on(name, fn, true); },
    off: off,
    offAll: function (name) { delete listeners[name]; },
    onAny: function (fn) { anyListeners.push(fn); },
    offAny: function (fn) {
      anyListeners = anyListeners.filter(function (other) { return other !== fn; });
    },
    emit: function (name) {
      notify("emit", {name: name, args: Array.prototype.slice.call(arguments, 1)});
    }
  };

  // ----- request -----

  function fakeXhr(response) {
    var headers = response.headers || {};
    return {
      status: response.status,
      statusText: response.statusText || "",
      responseText: response.body,
      getResponseHeader: function (name) {
        return headers[String(name).toLowerCase()] || null;
      },
      getAllResponseHeaders: function () {
        return Object.keys(headers).map(function (key) { return key + ": " + headers[key]; }).join("\r\n");
      }
    };
  }

  function encodeBody(options) {
    var data = options.data;
    var type = (options.type || "GET").toUpperCase();
    var contentType = options.contentType || "application/x-www-form-urlencoded";
    if (data === undefined || data === null || type === "GET") {
      return {body: null, contentType: null};
    }
    if (typeof data === "string") {
      return {body: data, contentType: contentType};
    }
    if (contentType.indexOf("json") >= 0) {
      return {body: JSON.stringify(data), contentType: contentType};
    }
    return {body: new URLSearchParams(data).toString(), contentType: contentType};
  }

  function appendQuery(url, data) {
    if (!data || typeof data !== "object") {
      return url;
    }
    var query = new URLSearchParams(data).toString();
    if (!query) {
      return url;
    }
    var separator = url.indexOf("?") >= 0 ? "&" : "?";
    return url + separator + query;
  }

  function request(urlOrOptions, maybeOptions) {
    var options = typeof urlOrOptions === "string"
      ? Object.assign({url: urlOrOptions}, maybeOptions || {})
      : Object.assign({}, urlOrOptions || {});
    var type = (options.type || "GET").toUpperCase();
    var encoded = encodeBody(options);
    var url = type === "GET" ? appendQuery(options.url, options.data) : options.url;
    var headers = Object.assign({}, options.headers || {});
    if (encoded.contentType) {
      headers["Content-Type"] = encoded.contentType;
    }
    return call("request", {url: url, type: type, body: encoded.body, headers: headers}).then(
      function (response) {
        var xhr = fakeXhr(response);
        if (typeof options.success === "function") {
          options.success(response.body, "success", xhr);
        }
        return {body: response.body, xhr: xhr};
      },
      function (error) {
        var xhr = fakeXhr(error.response || {status: error.status || 0, body: ""});
        if (typeof options.error === "function") {
          options.error(xhr, "error", error.message);
        }
        error.xhr = xhr;
        error.err = error.message;
        throw error;
      });
  }

  // ----- size -----

  function contentHeight() {
    var content = document.querySelector(".ac-content");
    if (content) {
      return Math.ceil(content.getBoundingClientRect().bottom + window.scrollY);
    }
    return Math.ceil(document.documentElement.scrollHeight);
  }

  function resize(width, height) {
    notify("resize", {width: width || "100%", height: height || contentHeight() + "px"});
  }

  function startAutoResize() {
    if (options.resize === "false" || options.sizeToParent === "true") {
      return;
    }
    var last = -1;
    var send = function () {
      var height = contentHeight();
      if (height !== last) {
        last = height;
        notify("resize", {width: "100%", height: height + "px"});
      }
    };
    if (window.ResizeObserver) {
      new ResizeObserver(send).observe(document.documentElement);
    }
    if (window.MutationObserver) {
      new MutationObserver(send).observe(document.documentElement,
        {childList: true, subtree: true, attributes: true, characterData: true});
    }
    send();
  }

  // ----- the AP object -----

  window.AP = {
    context: {
      getToken: function (callback) { return withCallback(call("getToken"), callback); },
      getContext: function (callback) { return withCallback(call("getContext"), callback); }
    },
    request: request,
    events: events,
    resize: resize,
    sizeToParent: function () { notify("sizeToParent", {}); },
    user: {
      getLocale: function (callback) { return withCallback(call("getLocale"), callback); },
      getCurrentUser: function (callback) { return withCallback(call("getCurrentUser"), callback); },
      getTimeZone: function (callback) { return withCallback(call("getTimeZone"), callback); }
    },
    flag: {
      create: function (flag) {
        notify("flag", {title: flag && flag.title, body: flag && flag.body, type: flag && flag.type});
        return {close: function () {}};
      }
    },
    navigator: {
      reload: function () { notify("reload", {}); }
    }
  };

  if (!hostOrigin || !channel) {
    warn("xdm_e or xdm_c is missing from the iframe URL; AP calls will be rejected.");
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", startAutoResize);
  } else {
    startAutoResize();
  }
  if (options.sizeToParent === "true") {
    notify("sizeToParent", {});
  }
}());
