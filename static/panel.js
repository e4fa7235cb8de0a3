/* Script shared by the add-on's iframe pages.
 *
 * It sizes the iframe, reads the viewer's Jira locale for later API calls, and on the portal
 * request panel fills in the request from AP.context.getContext() when the module URL carried no
 * request variables. It runs after Connect's all.js (loaded before it in <head>), which defines
 * window.AP. Nothing here is trusted for identity: the server reads the viewer from the page's JWT.
 *
 * Language: the server renders the page in French unless the URL carries `lang` or the browser
 * prefers English, and sets <html lang> to the language it rendered. The iframe URL is signed by
 * Jira, so the page cannot reload itself with another `lang`. Instead this script stores the Jira
 * locale in window.SupportChat.lang and switches the page's texts to it (static/chat/i18n.js).
 * Calls to the add-on's API wait for that switch and pass the language as `lang`, so their texts
 * follow it too.
 */
(function () {
  "use strict";

  var SUPPORTED = ["fr", "en"];
  var root = document.documentElement;
  // Scripts loaded before this one (none today) may have started the shared object.
  var state = window.SupportChat || {};
  Object.assign(state, {
    pageLang: root.getAttribute("lang") || "fr",
    lang: root.getAttribute("lang") || "fr",
    userLocale: null,
    context: null
  });
  window.SupportChat = state;

  function hasAP() {
    return typeof window.AP === "object" && window.AP !== null;
  }

  function resize() {
    if (hasAP() && typeof window.AP.resize === "function") {
      window.AP.resize();
    }
  }

  // Connect's getters accept a callback and, in recent versions, also return a promise.
  function callAP(getter, onValue) {
    var done = false;
    function once(value) {
      if (!done) {
        done = true;
        onValue(value);
      }
    }
    try {
      var result = getter(once);
      if (result && typeof result.then === "function") {
        result.then(once, function () {});
      }
    } catch (error) {
      // An all.js without this API (older host) leaves the server-rendered defaults in place.
    }
  }

  // Tell static/chat/i18n.js, when the page loads it, which language to keep (null: the page's own).
  function settleLanguage(language) {
    if (state.i18n && typeof state.i18n.settle === "function") {
      state.i18n.settle(language);
    }
  }

  function readLocale() {
    if (!hasAP() || !window.AP.user || typeof window.AP.user.getLocale !== "function") {
      settleLanguage(null);
      return;
    }
    callAP(window.AP.user.getLocale.bind(window.AP.user), function (locale) {
      if (typeof locale !== "string" || !locale) {
        settleLanguage(null);
        return;
      }
      var language = locale.split(/[-_]/)[0].toLowerCase();
      state.userLocale = locale;
      if (SUPPORTED.indexOf(language) !== -1) {
        state.lang = language;
      }
      root.setAttribute("data-user-lang", state.lang);
      settleLanguage(state.lang);
    });
  }

  function findRequest(context) {
    if (!context || typeof context !== "object") {
      return null;
    }
    var holders = [context, context.serviceDesk, context.jira, context.jira && context.jira.serviceDesk];
    for (var i = 0; i < holders.length; i += 1) {
      var holder = holders[i];
      if (!holder || typeof holder !== "object") {
        continue;
      }
      var candidate = holder.request || holder.customerRequest;
      if (candidate && (candidate.key || candidate.id)) {
        return {key: candidate.key || "", id: candidate.id || ""};
      }
    }
    return null;
  }

  function fillRequestFromContext() {
    var target = document.querySelector("[data-chat-request]");
    if (!target || target.getAttribute("data-request-key") || target.getAttribute("data-request-id")) {
      return;
    }
    if (!hasAP() || !window.AP.context || typeof window.AP.context.getContext !== "function") {
      return;
    }
    callAP(window.AP.context.getContext.bind(window.AP.context), function (context) {
      state.context = context;
      var found = findRequest(context);
      if (!found) {
        return;
      }
      target.setAttribute("data-request-key", found.key);
      target.setAttribute("data-request-id", found.id);
      var value = target.querySelector("[data-chat-request-value]");
      if (value) {
        // textContent, never innerHTML: the context comes from the browser and is untrusted.
        value.textContent = found.key || found.id;
      }
      target.hidden = false;
      // The request panel's script waits for this event when the URL named no request.
      document.dispatchEvent(new CustomEvent("supportchat:request", {detail: found}));
      resize();
    });
  }

  function start() {
    readLocale();
    fillRequestFromContext();
    resize();
  }

  if (document.readyState === "complete") {
    start();
  } else {
    window.addEventListener("load", start);
  }
})();
