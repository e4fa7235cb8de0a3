/* Texts of the iframe pages, in one language per page.
 *
 * The language is the viewer's Jira language when Jira reports a supported one. Otherwise it is the
 * language the server rendered the page in: the browser's preference, else French (addon/i18n.py).
 * The iframe URL is signed by Jira, so the page cannot reload itself with another language.
 * Instead the server embeds one dictionary per language in <script id="chat-strings">, rendered
 * through Flask-Babel from templates/panels/*_strings.html so that translations live in
 * messages.po. static/panel.js calls `settle(lang)` once AP.user.getLocale() has returned.
 * Switching relabels every marked element:
 *
 *   data-i18n="key"                     the element's text
 *   data-i18n-attr="name:key;name:key"  attributes, e.g. aria-label:admin_results_label;href:rules_url
 *
 * Scripts build every other text with `t(key)`, and start what fetches or renders text only after
 * `ready()` resolves. Calls to the add-on's API wait for it too (static/chat/client.js), so server
 * messages come in the same language as the page. A host that never reports the locale releases
 * `ready()` after LOCALE_WAIT_MS with the server's language. If the locale arrives later anyway,
 * the page switches and `onChange` listeners redraw their texts.
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat = window.SupportChat || {};
  var LOCALE_WAIT_MS = 3000;
  var element = document.getElementById("chat-strings");
  var pageLang = (element && element.getAttribute("data-lang")) || document.documentElement.lang || "fr";
  var dictionaries = {};
  try {
    dictionaries = JSON.parse(element ? element.textContent : "{}") || {};
  } catch (error) {
    dictionaries = {};
  }
  var current = dictionaries[pageLang] ? pageLang : Object.keys(dictionaries)[0] || pageLang;
  var listeners = [];
  var settled = false;
  var release;
  var readyPromise = new Promise(function (resolve) { release = resolve; });

  // Return the text `key` in the current language, with each {name} replaced by params[name].
  function t(key, params) {
    var dictionary = dictionaries[current] || {};
    var text = Object.prototype.hasOwnProperty.call(dictionary, key) ? dictionary[key] : key;
    return String(text).replace(/\{(\w+)\}/g, function (match, name) {
      return params && params[name] !== undefined ? String(params[name]) : match;
    });
  }

  // Return the text for `count` items: `key + "_one"` when the current language's plural rule
  // (Intl.PluralRules) puts `count` in the "one" category, else `key`. French puts 0 and 1 there,
  // English only 1. `count` is also passed as the {count} placeholder.
  function plural(key, count, params) {
    var values = Object.assign({count: count}, params || {});
    var category = count === 1 ? "one" : "other";
    if (window.Intl && Intl.PluralRules) {
      category = new Intl.PluralRules(current).select(count);
    }
    return t(category === "one" && has(key + "_one") ? key + "_one" : key, values);
  }

  function has(key) {
    return Object.prototype.hasOwnProperty.call(dictionaries[current] || {}, key);
  }

  // Give every marked element under `root` its text and attributes in the current language.
  // An element whose key the page does not carry keeps what the server rendered.
  function relabel(root) {
    var scope = root || document;
    var texts = scope.querySelectorAll("[data-i18n]");
    for (var i = 0; i < texts.length; i += 1) {
      var key = texts[i].getAttribute("data-i18n");
      if (has(key)) {
        texts[i].textContent = t(key);
      }
    }
    var withAttributes = scope.querySelectorAll("[data-i18n-attr]");
    for (var j = 0; j < withAttributes.length; j += 1) {
      withAttributes[j].getAttribute("data-i18n-attr").split(";").forEach(function (pair) {
        var parts = pair.split(":");
        var name = parts[0].trim();
        var attributeKey = (parts[1] || "").trim();
        if (name && has(attributeKey)) {
          withAttributes[j].setAttribute(name, t(attributeKey));
        }
      });
    }
  }

  // Switch to `lang` when the page carries its dictionary; return whether it switched.
  function use(lang) {
    if (!lang || lang === current || !dictionaries[lang]) {
      return false;
    }
    current = lang;
    document.documentElement.setAttribute("lang", lang);
    relabel(document);
    listeners.forEach(function (listener) { listener(lang); });
    return true;
  }

  // Fix the page's language: `lang` when the page carries it, else the one it has. Called by
  // static/panel.js with the viewer's Jira language, or with null when Jira reports none.
  function settle(lang) {
    use(lang);
    if (!settled) {
      settled = true;
      release(current);
    }
  }

  window.setTimeout(function () {
    if (!settled && window.console) {
      window.console.warn("Support chat: Jira did not report the viewer's locale; the page stays in " + current + ".");
    }
    settle(null);
  }, LOCALE_WAIT_MS);

  SupportChat.i18n = {
    t: t,
    plural: plural,
    use: use,
    settle: settle,
    relabel: relabel,
    // Resolve to the page's language once it is settled.
    ready: function () { return readyPromise; },
    lang: function () { return current; },
    onChange: function (listener) { listeners.push(listener); }
  };
})();
