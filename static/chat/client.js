/* Calls to the add-on: context tokens and the JSON API (the live channel is in channel.js).
 *
 * Every call carries a context JWT from AP.context.getToken(), fetched again shortly before it
 * expires. Errors come back as {"error": {"code", "message"}} (addon/web/api.py), with the message
 * in the language passed as `lang`.
 *
 * The calls go through a transport. The Connect one (the default) is fetch with the context JWT.
 * A Forge Custom UI page sets its own with `setTransport` (forge/ui/bootstrap.js): invokeRemote from
 * @forge/bridge, which Forge sends to the add-on with a Forge Invocation Token, and a single-use
 * socket ticket instead of the context JWT in the websocket's auth frame. Files (an upload's
 * FormData, a download's bytes) go through the transport's `upload` and `download`, because
 * invokeRemote carries JSON only: the Forge transport sends them with requestRemote.
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat = window.SupportChat || {};
  var body = document.body;
  var baseUrl = (body.getAttribute("data-base-url") || window.location.origin).replace(/\/+$/, "");
  var transport = null;  // set below to the Connect transport, or by setTransport

  // A token is fetched again when less than this remains before its `exp`.
  var TOKEN_MARGIN_SECS = 60;

  // ----- tokens -----

  var token = null;
  var tokenExp = 0;
  var tokenPromise = null;

  function expiryOf(jwt) {
    try {
      var part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(window.atob(part)).exp || 0;
    } catch (error) {
      return 0;
    }
  }

  function nowSecs() {
    return Date.now() / 1000;
  }

  // Resolve to a context token valid for at least TOKEN_MARGIN_SECS more.
  function getToken() {
    if (token && tokenExp - nowSecs() > TOKEN_MARGIN_SECS) {
      return Promise.resolve(token);
    }
    if (!tokenPromise) {
      if (!window.AP || !window.AP.context || typeof window.AP.context.getToken !== "function") {
        return Promise.reject(new Error("AP.context.getToken is missing: the page is not inside Jira."));
      }
      tokenPromise = Promise.resolve(window.AP.context.getToken()).then(function (value) {
        token = value;
        tokenExp = expiryOf(value) || nowSecs() + 120;
        tokenPromise = null;
        return value;
      }, function (error) {
        tokenPromise = null;
        throw error;
      });
    }
    return tokenPromise;
  }

  function dropToken() {
    token = null;
    tokenExp = 0;
  }

  // ----- JSON API -----

  // `detail` is the response's "error" object: its field, reason and params name the place and
  // kind of a settings error (addon/web/sla_api.py).
  function ApiError(status, code, message, detail) {
    var error = new Error(message);
    error.status = status;
    error.code = code;
    error.field = (detail && detail.field) || null;
    error.reason = (detail && detail.reason) || null;
    error.params = (detail && detail.params) || {};
    return error;
  }

  function withQuery(path, query) {
    var params = new URLSearchParams(query || {});
    params.set("lang", SupportChat.i18n ? SupportChat.i18n.lang() : "fr");
    return path + (path.indexOf("?") >= 0 ? "&" : "?") + params.toString();
  }

  // Resolve once the page's language is settled (static/chat/i18n.js), so that every call passes
  // the language the page shows and the server writes its messages in it.
  function languageSettled() {
    return SupportChat.i18n && SupportChat.i18n.ready ? SupportChat.i18n.ready() : Promise.resolve();
  }

  // ----- transports -----

  // A transport's `request(method, path, payload)` resolves to an object with `ok`, `status` and
  // `text()` (a fetch Response has them), and its `socketAuth()` to the credential fields of the
  // socket's auth frame. Its `upload(path, form, headers)` (POST of a FormData) and
  // `download(path, headers)` (GET) resolve to a fetch Response, whose body may be read as a Blob;
  // their `path` is the whole path from the add-on's base URL, with its query.
  var connectTransport = {
    name: "connect",
    request: function (method, path, payload) {
      return getToken().then(function (jwt) {
        var init = {method: method, headers: {Authorization: "JWT " + jwt, Accept: "application/json"}};
        if (payload !== undefined) {
          init.headers["Content-Type"] = "application/json";
          init.body = JSON.stringify(payload);
        }
        return window.fetch(baseUrl + path, init);
      });
    },
    upload: function (path, form, headers) {
      return getToken().then(function (jwt) {
        var allHeaders = Object.assign({Authorization: "JWT " + jwt}, headers || {});
        return window.fetch(baseUrl + path, {method: "POST", headers: allHeaders, body: form});
      });
    },
    download: function (path, headers) {
      return getToken().then(function (jwt) {
        return window.fetch(baseUrl + path, {headers: Object.assign({Authorization: "JWT " + jwt}, headers || {})});
      });
    },
    socketAuth: function () {
      return getToken().then(function (jwt) { return {token: jwt}; });
    },
    dropCredentials: function () {
      dropToken();
    }
  };
  transport = connectTransport;

  // Use `replacement` for every later call; `newBaseUrl` is the add-on's address when the page is
  // not served by the add-on (a Forge page is served by Atlassian).
  function setTransport(replacement, newBaseUrl) {
    transport = replacement;
    if (newBaseUrl) {
      baseUrl = String(newBaseUrl).replace(/\/+$/, "");
      SupportChat.client.baseUrl = baseUrl;
    }
  }

  function socketAuth() {
    return transport.socketAuth();
  }

  function dropCredentials() {
    transport.dropCredentials();
  }

  // POST the FormData `form` to `path` (from the base URL, with its query); resolve to the Response.
  function upload(path, form, headers) {
    return transport.upload(path, form, headers);
  }

  // GET `path` (from the base URL, with its query); resolve to the Response, whose body may be binary.
  function download(path, headers) {
    return transport.download(path, headers);
  }

  // Call the add-on's API; resolve to the parsed JSON, reject with an Error carrying status and code.
  function api(method, path, payload, query) {
    return languageSettled().then(function () {
      return transport.request(method, "/api" + withQuery(path, query), payload);
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try {
          data = text ? JSON.parse(text) : null;
        } catch (error) {
          data = null;
        }
        if (response.ok) {
          return data;
        }
        if (response.status === 401) {
          dropCredentials();
        }
        var detail = (data && data.error) || {};
        throw new ApiError(response.status, detail.code || "http_" + response.status,
          detail.message || SupportChat.i18n.t("network_error"), detail);
      });
    }, function (error) {
      if (error && error.status) {
        throw error;
      }
      throw new ApiError(0, "network", SupportChat.i18n.t("network_error"));
    });
  }

  function newClientId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  // The first array in an API response, because the list endpoints wrap their items in an object.
  function listOf(data) {
    if (Array.isArray(data)) {
      return data;
    }
    if (data && typeof data === "object") {
      var keys = Object.keys(data);
      for (var i = 0; i < keys.length; i += 1) {
        if (Array.isArray(data[keys[i]])) {
          return data[keys[i]];
        }
      }
    }
    return [];
  }

  function websocketUrl() {
    var url = new URL(baseUrl + "/ws");
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    // The server writes the sentences of its error frames in this language.
    url.searchParams.set("lang", SupportChat.i18n ? SupportChat.i18n.lang() : "fr");
    return url.toString();
  }

  SupportChat.client = {
    api: api,
    getToken: getToken,
    dropToken: dropToken,
    socketAuth: socketAuth,
    dropCredentials: dropCredentials,
    upload: upload,
    download: download,
    setTransport: setTransport,
    newClientId: newClientId,
    listOf: listOf,
    websocketUrl: websocketUrl,
    baseUrl: baseUrl
  };
})();
