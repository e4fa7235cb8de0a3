/* The host side of the local site's Custom UI iframes (devsite/forge/host.py).
 *
 * Responds to the callBridge operations that iframe-bridge.js posts: to `getContext` with the
 * module's context, to `invoke` with invokeType "ui-remote-fetch" (invokeRemote) through
 * POST /_devsite/forge/host/invoke, which mints the FIT and calls the remote, and to `fetchRemote`
 * (requestRemote) by calling the remote from this page with a cached FIT. Only messages from this
 * page's own iframes get a response, posted to that iframe's origin only. Sets each frame's height
 * to the content height that its iframe reports.
 */
(function () {
  "use strict";

  var frames = JSON.parse(document.getElementById("forge-frames").textContent);
  var byId = {};
  frames.forEach(function (frame) {
    byId[frame.id] = frame;
  });
  var invokeUrl = new URL("/_devsite/forge/host/invoke", window.location.href).toString();
  var remoteTokenUrl = new URL("/_devsite/forge/host/remote-token", window.location.href).toString();
  // A cached FIT is minted again when less than this remains before its exp.
  var FIT_MARGIN_SECS = 5;
  var remoteTokens = {};  // frame id + remote key → {token, expires_at, base_url}

  function answer(frame, element, id, value, error) {
    element.contentWindow.postMessage({kind: "forge-bridge-answer", id: id, value: value, error: error},
      frame.origin);
  }

  function invoke(frame, payload) {
    if (!payload || payload.invokeType !== "ui-remote-fetch") {
      return Promise.reject(new Error("Only invokeRemote (ui-remote-fetch) is served by the local site."));
    }
    return window.fetch(invokeUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({
        frame: frame.id, path: payload.path,
        method: payload.method, headers: payload.headers, body: payload.body
      })
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) {
          throw new Error((data && data.error) || "The local site rejected the call (HTTP " + response.status + ").");
        }
        if (data.rejected) {
          throw new Error(data.rejected);
        }
        return {success: data.success, payload: data.payload, error: data.error};
      });
    });
  }

  // ----- requestRemote -----

  // The FIT and address for `frame`'s requestRemote calls to `remoteKey`, reused until shortly
  // before it expires, as Atlassian documents that requestRemote caches its FIT.
  function remoteToken(frame, remoteKey) {
    var cacheKey = frame.id + " " + remoteKey;
    var cached = remoteTokens[cacheKey];
    if (cached && cached.expires_at - Date.now() / 1000 > FIT_MARGIN_SECS) {
      return Promise.resolve(cached);
    }
    return window.fetch(remoteTokenUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({frame: frame.id, remote_key: remoteKey})
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) {
          throw new Error((data && data.error) || "The local site gave no token (HTTP " + response.status + ").");
        }
        remoteTokens[cacheKey] = data;
        return data;
      });
    });
  }

  function bytesOfDataUrl(dataUrl) {
    var text = String(dataUrl);
    var binary = window.atob(text.indexOf(";base64,") >= 0 ? text.split(",")[1] : text);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i += 1) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes;
  }

  // Rebuild the FormData that @forge/bridge sent as JSON: a field whose name starts with "file"
  // and has a "__<name>Name" companion is a file, as a base64 data URL with "__<name>Type".
  function formDataOf(json) {
    var fields = JSON.parse(json);
    var form = new FormData();
    var companions = {};
    Object.keys(fields).forEach(function (name) {
      if (name.indexOf("file") === 0 && typeof fields["__" + name + "Name"] === "string") {
        companions["__" + name + "Name"] = true;
        companions["__" + name + "Type"] = true;
      }
    });
    Object.keys(fields).forEach(function (name) {
      if (companions[name]) {
        return;
      }
      var fileName = fields["__" + name + "Name"];
      if (name.indexOf("file") === 0 && typeof fileName === "string") {
        var type = fields["__" + name + "Type"] || "";
        form.append(name, new File([bytesOfDataUrl(fields[name])], fileName, {type: type}));
      } else {
        form.append(name, fields[name]);
      }
    });
    return form;
  }

  function base64Of(buffer) {
    var bytes = new Uint8Array(buffer);
    var chunks = [];
    for (var i = 0; i < bytes.length; i += 0x8000) {
      chunks.push(String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000)));
    }
    return window.btoa(chunks.join(""));
  }

  // NOTE: when Atlassian's host marks a response `isAttachment` (sent in base64, a Blob in the
  // page) is not documented. Here every response that is neither JSON nor text is one.
  function isBinary(contentType) {
    var type = (contentType || "").split(";")[0].trim().toLowerCase();
    return !!type && type !== "application/json" && type.indexOf("text/") !== 0;
  }

  function fetchRemote(frame, payload) {
    var init = payload && payload.fetchRequestInit;
    if (!payload || typeof payload.remoteKey !== "string" || !init || typeof init.path !== "string" ||
        init.path.charAt(0) !== "/") {
      return Promise.reject(new Error("requestRemote needs a remote key and a path starting with '/'."));
    }
    return remoteToken(frame, payload.remoteKey).then(function (grant) {
      var headers = new Headers();
      (init.headers || []).forEach(function (entry) {
        var name = String(entry[0]).toLowerCase();
        // The bridge labels the JSON of a FormData text/plain; fetch sets the multipart type itself.
        var dropped = name === "authorization" || name.indexOf("x-forge-oauth-") === 0 ||
          (payload.isMultipartFormData && name === "content-type");
        if (!dropped) {
          headers.append(entry[0], entry[1]);
        }
      });
      headers.set("Authorization", "Bearer " + grant.token);
      var method = String(init.method || "GET").toUpperCase();
      var body = null;
      if (method !== "GET" && method !== "HEAD" && init.body !== null && init.body !== undefined) {
        body = payload.isMultipartFormData ? formDataOf(init.body) : init.body;
      }
      return window.fetch(grant.base_url + init.path, {method: method, headers: headers, body: body,
        credentials: "omit"});
    }).then(function (response) {
      var headers = {};
      response.headers.forEach(function (value, name) {
        headers[name] = value;
      });
      var attachment = isBinary(headers["content-type"]);
      var read = attachment ? response.arrayBuffer().then(base64Of) : response.text();
      return read.then(function (body) {
        return {body: body, headers: headers, status: response.status, statusText: response.statusText,
          isAttachment: attachment};
      });
    });
  }

  // Set the frame's height to the document height that its iframe-bridge.js reported, as
  // Atlassian's host sizes Custom UI frames to their content. data-content-height records the
  // applied value for tests.
  function resize(element, height) {
    if (typeof height !== "number" || !isFinite(height) || height < 0) {
      return;
    }
    element.style.height = Math.ceil(height) + "px";
    element.setAttribute("data-content-height", String(Math.ceil(height)));
  }

  window.addEventListener("message", function (event) {
    var data = event.data;
    if (!data || (data.kind !== "forge-bridge-call" && data.kind !== "forge-frame-size")) {
      return;
    }
    var frame = byId[data.frame];
    var element = frame && document.getElementById("forge-frame-" + frame.id);
    if (!frame || !element || event.source !== element.contentWindow || event.origin !== frame.origin) {
      return;
    }
    if (data.kind === "forge-frame-size") {
      resize(element, data.height);
      return;
    }
    var result;
    if (data.op === "getContext") {
      result = Promise.resolve(frame.context);
    } else if (data.op === "invoke") {
      result = invoke(frame, data.payload);
    } else if (data.op === "fetchRemote") {
      result = fetchRemote(frame, data.payload);
    } else {
      result = Promise.reject(new Error("The local site does not serve the bridge operation " + data.op + "."));
    }
    result.then(function (value) {
      answer(frame, element, data.id, value, null);
    }, function (error) {
      answer(frame, element, data.id, null, String(error && error.message || error));
    });
  });
})();
