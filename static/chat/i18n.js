/* Texts of the chat scripts in the viewer's Jira language.
 *
 * The server embeds one dictionary per language in <script id="chat-strings"> (rendered through
 * Flask-Babel, so translations live in messages.po). The page is rendered in the language the
 * server guessed; once AP.user.getLocale() returns, `SupportChat.i18n.use(lang)` switches every
 * element marked data-i18n="key" and every later text to the viewer's Jira language, when the page
 * carries that dictionary.
 */
(function () {
  "use strict";

  var SupportChat = window.SupportChat = window.SupportChat || {};
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

  // Return the text `key` in the current language, with each {name} replaced by params[name].
  function t(key, params) {
    var dictionary = dictionaries[current] || {};
    var text = Object.prototype.hasOwnProperty.call(dictionary, key) ? dictionary[key] : key;
    return String(text).replace(/\{(\w+)\}/g, function (match, name) {
      return params && params[name] !== undefined ? String(params[name]) : match;
    });
  }

  function relabel(root) {
    var nodes = (root || document).querySelectorAll("[data-i18n]");
    for (var i = 0; i < nodes.length; i += 1) {
      nodes[i].textContent = t(nodes[i].getAttribute("data-i18n"));
    }
  }

  // Switch to `lang` when the page carries its dictionary; returns whether it switched.
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

  SupportChat.i18n = {
    t: t,
    use: use,
    relabel: relabel,
    lang: function () { return current; },
    onChange: function (listener) { listeners.push(listener); }
  };
})();
