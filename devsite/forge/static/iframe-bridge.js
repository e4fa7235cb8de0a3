/* Inside a Custom UI iframe of the local site: window.__bridge.callBridge for @forge/bridge.
 *
 * Each call is posted to the host page (devsite/forge/static/host.js) with an id; the host answers
 * with the same id, and the promise resolves to the answer's `value` or rejects with its `error`.
 * The frame id comes from the iframe's URL, which the host page set. The script also reports the
 * document's height to the host page whenever it changes, so the host can size the frame to it.
 */
(function () {
  "use strict";

  var frameId = new URLSearchParams(window.location.search).get("frame") || "";
  var pending = {};
  var counter = 0;

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent) {
      return;
    }
    var data = event.data;
    if (!data || data.kind !== "forge-bridge-answer" || !pending[data.id]) {
      return;
    }
    var call = pending[data.id];
    delete pending[data.id];
    if (data.error) {
      call.reject(new Error(data.error));
    } else {
      call.resolve(data.value);
    }
  });

  function callBridge(op, payload) {
    counter += 1;
    var id = frameId + ":" + counter;
    return new Promise(function (resolve, reject) {
      pending[id] = {resolve: resolve, reject: reject};
      // The host page's origin is not known here; the host checks that the message comes from
      // its own iframe, and answers only to that iframe's origin.
      window.parent.postMessage({kind: "forge-bridge-call", frame: frameId, id: id, op: op, payload: payload}, "*");
    });
  }

  window.__bridge = {callBridge: callBridge};

  // Atlassian's host sizes a Custom UI panel's frame to its content when the module sets no
  // viewportSize, so the panel grows with its page. NOTE: no Forge reference page found states
  // this outright. RFC-126 on community.developer.atlassian.com describes jira:issuePanel frames
  // without a viewportSize shifting the issue view as they load. host.js applies the height.
  var reportedHeight = -1;

  function reportHeight() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height === reportedHeight) {
      return;
    }
    reportedHeight = height;
    window.parent.postMessage({kind: "forge-frame-size", frame: frameId, height: height}, "*");
  }

  function observeHeight() {
    var observer = new ResizeObserver(reportHeight);
    observer.observe(document.documentElement);
    if (document.body) {
      observer.observe(document.body);
    }
    reportHeight();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", observeHeight);
  } else {
    observeHeight();
  }
})();
