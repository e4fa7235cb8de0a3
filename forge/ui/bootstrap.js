// The Custom UI page of the chat. It shows the same chat as the Connect panels, with the chat's own
// scripts (copied from static/ by build.mjs), and replaces only what Connect's all.js gave them:
//
// * the panel itself: GET /forge/ui/page returns the panel that the add-on renders with its Jinja
//   template, with the chat's dictionaries (fr, en), the add-on's base URL and the viewer's accountId;
// * the transport of SupportChat.client: invokeRemote instead of fetch with a context JWT, and a
//   single-use ticket (POST /forge/ui/socket-ticket) in the websocket's auth frame. Files (an
//   upload's FormData, a download's bytes) go through requestRemote, because invokeRemote takes
//   and returns JSON only;
// * static/panel.js: the language comes from view.getContext() instead of AP.user.getLocale().
//
// Forge names the site, the user and the request in the token it adds to each call, so nothing
// here is trusted for identity. The page HTML comes from the add-on, which escapes everything a
// user typed; the scripts write user text as textContent.

const PAGE_PATH = '/forge/ui/page';
const TICKET_PATH = '/forge/ui/socket-ticket';
// The key of the add-on in manifest.yml's `remotes`, which requestRemote calls.
const REMOTE_KEY = 'chat-backend';
const SUPPORTED = ['fr', 'en'];

// The module types of manifest.yml and the Connect page each one shows. The add-on answers 403 on
// the two settings surfaces unless the viewer is a project admin of the service project or a Jira admin.
const SURFACES = {
  'jiraServiceManagement:portalFooter': 'footer',
  'jiraServiceManagement:portalRequestDetail': 'request-panel',
  'jira:issuePanel': 'issue-panel',
  'jira:issueContext': 'issue-panel',
  'jira:projectPage': 'dashboard',
  'jira:projectSettingsPage': 'project-settings',
  'jira:adminPage': 'admin',
};

// The files of static/ that build.mjs copies beside this page. Scripts of the panel page outside
// these folders (Connect's all.js, panel.js) are not loaded here.
const COPIED_PREFIXES = ['chat/', 'workspace/', 'admin/'];

function bilingual(french, english) {
  return `${french} · ${english}`;
}

function showStatus(text) {
  const status = document.getElementById('forge-status');
  if (status) {
    status.textContent = text;
    status.hidden = false;
  }
}

function responseText(response) {
  const body = response ? response.body : null;
  if (body === undefined || body === null) {
    return '';
  }
  return typeof body === 'string' ? body : JSON.stringify(body);
}

// The transport of static/chat/client.js over invokeRemote. Its replies look like a fetch Response
// (ok, status, text()), so the chat's error handling stays the same: {"error": {code, message}}.
// Files go through requestRemote, which resolves to a real fetch Response. The bridge sends a
// FormData's `file` field as base64 and the host rebuilds the multipart body. Atlassian's host
// page then calls the add-on itself with a FIT, so the add-on sends CORS headers for the site
// (addon/atlassian/forge/files.py).
function forgeTransport(invokeRemote, requestRemote) {
  return {
    name: 'forge',
    request(method, path, payload) {
      const call = { path, method, headers: { Accept: 'application/json' } };
      if (payload !== undefined) {
        call.body = payload;
      }
      return invokeRemote(call).then((response) => {
        const status = response && typeof response.status === 'number' ? response.status : 0;
        return {
          ok: status >= 200 && status < 300,
          status,
          text: () => Promise.resolve(responseText(response)),
        };
      });
    },
    upload(path, form, headers) {
      return requestRemote(REMOTE_KEY, { path, method: 'POST', headers: headers || {}, body: form });
    },
    download(path, headers) {
      return requestRemote(REMOTE_KEY, { path, method: 'GET', headers: headers || {} });
    },
    socketAuth() {
      return invokeRemote({ path: TICKET_PATH, method: 'POST', body: {} }).then((response) => {
        const ticket = response && response.body && response.body.ticket;
        if (!response || response.status !== 200 || typeof ticket !== 'string') {
          throw new Error(`No socket ticket (HTTP ${response ? response.status : 'none'})`);
        }
        return { ticket };
      });
    },
    // A ticket is used once and a FIT comes with each call, so there is nothing to forget.
    dropCredentials() {},
  };
}

function languageOf(context) {
  const locale = context && typeof context.locale === 'string' ? context.locale : '';
  const language = locale.split(/[-_]/)[0].toLowerCase();
  return SUPPORTED.includes(language) ? language : null;
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.async = false;
    script.onload = () => resolve();
    script.onerror = () => reject(new Error(`The script ${src} could not be loaded`));
    document.body.appendChild(script);
  });
}

// Take over the body of the rendered panel: its attributes, its content and the list of scripts,
// in their order, among the files copied beside this page.
function adoptPanel(page) {
  const rendered = new DOMParser().parseFromString(page.html, 'text/html');
  const scripts = [];
  rendered.querySelectorAll('script[src]').forEach((element) => {
    const path = new URL(element.getAttribute('src'), 'https://addon.invalid/').pathname.replace(/^\/static\//, '');
    if (COPIED_PREFIXES.some((prefix) => path.startsWith(prefix))) {
      scripts.push(path);
    }
    element.remove();
  });
  document.documentElement.lang = rendered.documentElement.getAttribute('lang') || page.lang || 'fr';
  for (const attribute of Array.from(rendered.body.attributes)) {
    document.body.setAttribute(attribute.name, attribute.value);
  }
  document.body.setAttribute('data-base-url', page.base_url);
  document.body.replaceChildren(...Array.from(rendered.body.childNodes).map((node) => document.importNode(node, true)));
  return scripts;
}

async function start() {
  let bridge;
  let context;
  try {
    // Imported here because @forge/bridge throws while loading outside an Atlassian host page,
    // and the page must then show an error instead of waiting forever.
    bridge = await import('@forge/bridge');
    context = await bridge.view.getContext();
  } catch (error) {
    showStatus(bilingual('La page doit être ouverte dans Jira.', 'Open this page inside Jira.'));
    console.error('Forge bridge unavailable', error);
    return;
  }
  const moduleType = context.extension && context.extension.type;
  const surface = SURFACES[moduleType];
  if (!surface) {
    showStatus(bilingual(`Ce module (${moduleType}) n'affiche pas la discussion.`,
      `This module (${moduleType}) does not show the chat.`));
    return;
  }

  const language = languageOf(context);
  let response;
  try {
    const query = new URLSearchParams({ surface, lang: language || 'fr' });
    response = await bridge.invokeRemote({ path: `${PAGE_PATH}?${query}`, method: 'GET' });
  } catch (error) {
    response = null;
    console.error('Forge call to %s failed', PAGE_PATH, error);
  }
  const refusal = response && response.status === 403 && response.body && response.body.error;
  if (refusal && typeof refusal.message === 'string') {
    // The add-on's refusal, such as a settings page opened by someone who is not a support lead.
    // Its message is already in French and English.
    showStatus(refusal.message);
    return;
  }
  if (!response || response.status !== 200 || !response.body || typeof response.body.html !== 'string') {
    const code = response ? response.status : 'none';
    showStatus(bilingual(
      `Le service de discussion est injoignable (HTTP ${code}). Rechargez la page dans quelques minutes.`,
      `The chat service cannot be reached (HTTP ${code}). Reload the page in a few minutes.`,
    ));
    return;
  }

  const page = response.body;
  const scripts = adoptPanel(page);
  // What static/panel.js sets up on a Connect page.
  const pageLang = document.documentElement.lang || 'fr';
  window.SupportChat = Object.assign(window.SupportChat || {}, {
    pageLang, lang: language || pageLang, userLocale: context.locale || null, context, platform: 'forge',
    // Scripts loaded before chat/open.js call SupportChat.resize, which open.js defines for Connect's
    // AP.resize. Forge sizes the frame itself, so until then it does nothing.
    resize() {},
  });
  if (language) {
    document.documentElement.setAttribute('data-user-lang', language);
  }

  for (const script of scripts) {
    await loadScript(script);
    if (script === 'chat/client.js') {
      window.SupportChat.client.setTransport(forgeTransport(bridge.invokeRemote, bridge.requestRemote), page.base_url);
    }
    if (script === 'chat/i18n.js' && window.SupportChat.i18n && window.SupportChat.i18n.settle) {
      window.SupportChat.i18n.settle(language);
    }
  }
  // The chat scripts start on DOMContentLoaded or at once; this page has loaded them after it.
  document.dispatchEvent(new CustomEvent('supportchat:forge-ready', { detail: { surface } }));
}

start();
