// Placeholder page of every Custom UI module until the chat itself moves to Forge. It shows that
// the module reaches the add-on: it calls /forge/ui/whoami through invokeRemote and prints the
// site, user and request that the add-on identifies. Values are written as textContent, not HTML.

const WHOAMI_PATH = '/forge/ui/whoami';

function bilingual(french, english) {
  return `${french} · ${english}`;
}

function addRow(list, label, value) {
  if (value === undefined || value === null || value === '') {
    return;
  }
  const term = document.createElement('dt');
  term.textContent = label;
  const description = document.createElement('dd');
  description.textContent = String(value);
  list.append(term, description);
}

function errorMessageOf(response) {
  const error = response && response.body && response.body.error;
  return error && error.message ? String(error.message) : '';
}

async function showCaller() {
  const status = document.getElementById('caller-status');
  const list = document.getElementById('caller');

  let context;
  let response;
  try {
    // Imported here because @forge/bridge throws while loading outside an Atlassian host page,
    // and the page must then show an error instead of waiting forever.
    const { invokeRemote, view } = await import('@forge/bridge');
    context = await view.getContext();
    response = await invokeRemote({ path: WHOAMI_PATH, method: 'GET' });
  } catch (error) {
    // The bridge fails outside an Atlassian host page, and rejects when Forge cannot reach the remote.
    status.textContent = bilingual(
      'Le service de discussion est injoignable. Rechargez la page dans quelques minutes.',
      'The chat service cannot be reached. Reload the page in a few minutes.',
    );
    console.error('Forge bridge call to %s failed', WHOAMI_PATH, error);
    return;
  }

  if (!response || response.status < 200 || response.status >= 300) {
    const code = response ? response.status : 'none';
    const detail = errorMessageOf(response);
    status.textContent = bilingual(
      `Le service de discussion a refusé l'appel (HTTP ${code}).`,
      `The chat service rejected the call (HTTP ${code}).`,
    ) + (detail ? ` ${detail}` : '');
    return;
  }

  const caller = response.body || {};
  status.textContent = bilingual('Connecté au service de discussion.', 'Connected to the chat service.');
  addRow(list, 'Module', context.moduleKey);
  addRow(list, 'Site', caller.siteUrl);
  addRow(list, bilingual('Utilisateur', 'User'), caller.accountId);
  addRow(list, bilingual('Demande', 'Request'), caller.requestKey);
  addRow(list, 'Installation', caller.installationId);
  list.hidden = false;
}

showCaller();
