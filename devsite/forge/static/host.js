/* The host side of the local site's Custom UI iframes (devsite/forge/host.py).
 *
 * Responds to the callBridge operations that iframe-bridge.js posts: to `getContext` with the
 * module's context, and to `invoke` with invokeType "ui-remote-fetch" (invokeRemote) through
 * POST /_devsite/forge/host/invoke, which mints the FIT and calls the remote. Only messages from
 * this page's own iframes get a response, posted to that iframe's origin only.
 */
(function () {
  "use strict";

  var frames = JSON.parse(document.getElementById("forge-frames").textContent);
  var byId = {};
  frames.forEach(function (frame) {
    byId[frame.id] = frame;
  });
  var invokeUrl = new URL("/_devsite/forge/host/invoke", window.location.href).toString();

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
        module_key: frame.module_key, extension: frame.context.extension, path: payload.path,
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

  window.addEventListener("message", function (event) {
    var data = event.data;
    if (!data || data.kind !== "forge-bridge-call") {
      return;
    }
    var frame = byId[data.frame];
    var element = frame && document.getElementById("forge-frame-" + frame.id);
    if (!frame || !element || event.source !== element.contentWindow || event.origin !== frame.origin) {
      return;
    }
    var result;
    if (data.op === "getContext") {
      result = Promise.resolve(frame.context);
    } else if (data.op === "invoke") {
      result = invoke(frame, data.payload);
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
