// LLM conversations: what the capture service kept of a logging
// workspace's calls to the LLM API hosts (docs/API.md "LLM conversations").
//   #/conversations            pick a project; the LLM host list (admin)
//   #/conversations/P          P's conversations, newest first; export, delete
//   #/conversations/P/ID       one conversation: messages in order, tool calls, usage
// Everything shown (prompts, replies, tool arguments, hosts) is inserted as
// text: a captured message is whatever a student or a model wrote.
import {api, download, path} from '../api.js';
import {h, replace, shortTime, tableWrap} from '../dom.js';

const convPath = (id, cid) => `${path.project(id)}/conversations${cid ? `/${encodeURIComponent(cid)}` : ''}`;
const viewHash = (id, cid) => `#/conversations/${encodeURIComponent(id)}${cid ? `/${encodeURIComponent(cid)}` : ''}`;

// "1.2 kB" for a byte count.
function size(n) {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  return `${(n / 1e6).toFixed(1)} MB`;
}

// The marks of an exchange: cut at the size cap, not ended normally, ….
function marks(c) {
  return [
    c.truncated && ['truncated', 'truncated: a body was longer than the size cap and is stored cut'],
    c.incomplete && ['incomplete', 'incomplete: the stream was cut or no response came'],
    c.raw && ['raw', 'raw: a shape not understood, shown as received'],
    c.undecoded && ['undecoded', 'undecoded: a content coding that did not decode'],
  ].filter(Boolean);
}

function markList(c, long) {
  const m = marks(c);
  if (!m.length) return null;
  return h('span', {class: 'marks'}, m.map(([name, text]) =>
    h('span', {class: `mark mark-${name}`, title: text}, long ? text : name)));
}

// Ask before deleting; resolves true or false. A modal <dialog>: Escape and
// Cancel say no, the focus starts on Cancel.
function confirmDialog(main, title, text, yesLabel) {
  return new Promise((resolve) => {
    const dialog = h('dialog', {id: 'conv-dialog', 'aria-labelledby': 'conv-dialog-title'});
    const yes = h('button', {type: 'button', id: 'conv-confirm', class: 'danger'}, yesLabel);
    const no = h('button', {type: 'button', id: 'conv-cancel'}, 'Cancel');
    replace(dialog, h('h3', {id: 'conv-dialog-title'}, title), h('p', null, text),
      h('div', {class: 'buttons'}, no, yes));
    main.appendChild(dialog);
    let answered = false;
    const finish = (answer) => {
      if (answered) return;
      answered = true;
      if (dialog.open) dialog.close();
      dialog.remove();
      resolve(answer);
    };
    yes.addEventListener('click', () => finish(true));
    no.addEventListener('click', () => finish(false));
    dialog.addEventListener('cancel', () => finish(false));
    dialog.showModal();
    no.focus();
  });
}

// ---- #/conversations: pick a project, manage the LLM host list ----
async function renderIndex(main, app) {
  const filter = h('input', {id: 'conv-project-filter', type: 'search', autocomplete: 'off',
    placeholder: 'name, id or type'});
  const projectsBox = h('div', {id: 'conv-projects'});
  const hostsBox = h('div', {id: 'llm-hosts'});
  const hostInput = h('input', {id: 'llm-new-host', autocomplete: 'off', required: true,
    placeholder: 'llm.example.com', 'aria-describedby': 'llm-add-error'});
  const addError = h('p', {id: 'llm-add-error', class: 'msg error', role: 'alert'});
  addError.hidden = true;
  let timer = null;
  let alive = true;

  replace(main,
    h('h2', null, 'LLM conversations'),
    h('p', {class: 'help'}, 'Calls to the LLM API hosts below, decrypted and kept for logging ',
      'workspaces only. Choose a project to see its conversations.'),
    h('section', {'aria-labelledby': 'conv-projects-title'},
      h('h3', {id: 'conv-projects-title'}, 'Projects'),
      h('div', {class: 'toolbar'}, h('label', {for: 'conv-project-filter'}, 'Filter projects'), filter),
      projectsBox),
    h('section', {'aria-labelledby': 'llm-hosts-title'},
      h('h3', {id: 'llm-hosts-title'}, 'LLM API hosts'),
      h('p', {class: 'help'}, 'Exact host names whose TLS is decrypted for logging workspaces; ',
        'a change applies to new connections within seconds.'),
      h('form', {id: 'llm-add', class: 'inline-form', onsubmit: (e) => { e.preventDefault(); addHost(); }},
        h('label', {for: 'llm-new-host'}, 'New host'), hostInput,
        h('button', {type: 'submit'}, 'Add host'), addError),
      hostsBox));

  async function loadProjects() {
    const qs = new URLSearchParams({limit: '100'});
    const q = filter.value.trim();
    if (q) qs.set('q', q);
    try {
      const d = (await api('GET', `/api/projects?${qs}`)).data;
      if (!alive) return;
      replace(projectsBox, d.count === 0 ? h('p', null, 'No projects.') :
        [h('ul', {class: 'project-links'}, d.projects.map((p) => h('li', null,
          h('a', {href: viewHash(p.projectId), 'data-project': p.projectId}, p.projectName),
          h('span', {class: 'help'}, ` ${p.proxyMode}${p.projectType ? `, ${p.projectType}` : ''}`)))),
        d.next ? h('p', {class: 'help'}, 'More projects match: narrow the filter.') : null]);
    } catch (err) {
      app.fail('Listing the projects', err);
    }
  }

  async function loadHosts() {
    try {
      const hosts = (await api('GET', '/api/capture/hosts')).data.hosts;
      if (!alive) return;
      replace(hostsBox, hosts.length === 0 ? h('p', null, 'No host: nothing is decrypted.')
        : h('ul', {class: 'rules'}, hosts.map((host) => h('li', null, h('code', null, host), ' ',
          h('button', {type: 'button', class: 'small', 'aria-label': `Remove LLM host ${host}`,
            onclick: () => removeHost(host)}, 'Remove')))));
    } catch (err) {
      app.fail('Reading the LLM host list', err);
    }
  }

  async function addHost() {
    const host = hostInput.value.trim();
    if (!host) return;
    addError.hidden = true;
    try {
      const d = (await api('POST', '/api/capture/hosts', {body: {host}})).data;
      app.say(d.added ? `Added ${d.host} to the LLM hosts.` : `${d.host} is listed already.`, 'ok');
      hostInput.value = '';
      await loadHosts();
    } catch (err) {
      addError.textContent = err.message;
      addError.hidden = false;
      hostInput.focus();
    }
  }

  async function removeHost(host) {
    const sure = await confirmDialog(main, `Remove ${host}?`,
      `Calls to ${host} will no longer be decrypted or captured.`, `Remove ${host}`);
    if (!sure) return;
    try {
      await api('DELETE', `/api/capture/hosts/${encodeURIComponent(host)}`);
      app.say(`Removed ${host} from the LLM hosts.`, 'ok');
      await loadHosts();
    } catch (err) {
      app.fail(`Removing ${host}`, err);
    }
  }

  filter.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(loadProjects, 200);
  });
  await Promise.all([loadProjects(), loadHosts()]);
  return () => {
    alive = false;
    clearTimeout(timer);
  };
}

// ---- #/conversations/P: the list ----
async function renderList(main, id, app) {
  let project;
  let list;
  try {
    const [p, l] = await Promise.all([api('GET', path.project(id)), api('GET', convPath(id))]);
    project = p.data.project;
    list = l.data.conversations;
  } catch (err) {
    replace(main, h('h2', null, 'LLM conversations'),
      h('p', null, h('a', {href: '#/conversations'}, 'Back to the projects')));
    app.fail('Reading the conversations', err);
    return;
  }
  const box = h('div', {id: 'conv-list'});
  const exportAll = h('button', {type: 'button', id: 'conv-export-all',
    onclick: () => saveMarkdown(null)}, 'Export all as Markdown');
  const deleteAll = h('button', {type: 'button', id: 'conv-delete-all', class: 'danger',
    onclick: () => remove(null)}, 'Delete all');

  replace(main,
    h('p', {class: 'crumbs'}, h('a', {href: '#/conversations'}, 'LLM conversations'), ' › ',
      project.projectName, ' · ', h('a', {href: `#/review/${encodeURIComponent(id)}`}, 'Review')),
    h('h2', null, 'Conversations: ', h('span', {class: 'project-name'}, project.projectName)),
    h('p', {class: 'help'}, `Mode ${project.proxyMode}. Only logging workspaces are captured.`),
    h('div', {class: 'toolbar'}, exportAll, deleteAll),
    box);

  async function saveMarkdown(cid) {
    try {
      await download(`${convPath(id, cid)}?format=markdown`,
        `conversations-${id}${cid ? `-${cid}` : ''}.md`);
      app.say(cid ? 'The conversation was exported.' : 'The conversations were exported.', 'ok');
    } catch (err) {
      app.fail('Exporting', err);
    }
  }

  async function remove(c) {
    const sure = c
      ? await confirmDialog(main, 'Delete this conversation?',
        `${shortTime(c.time)}, ${c.host}${c.firstUserMessage ? `: “${c.firstUserMessage}”` : ''}. ` +
        'It cannot be restored.', 'Delete')
      : await confirmDialog(main, `Delete all ${list.length} conversations?`,
        `Every conversation captured for ${project.projectName} goes; they cannot be restored.`,
        `Delete all ${list.length}`);
    if (!sure) {
      app.say('Nothing was deleted.', 'info');
      return;
    }
    try {
      const d = (await api('DELETE', convPath(id, c ? c.id : null))).data;
      app.say(`Deleted ${d.deleted} conversation${d.deleted === 1 ? '' : 's'}.`, 'ok');
      list = c ? list.filter((x) => x.id !== c.id) : [];
      draw();
      (list.length ? exportAll : main).focus();
    } catch (err) {
      app.fail('Deleting', err);
    }
  }

  function row(c) {
    return h('tr', {'data-conversation': c.id},
      h('td', {class: 'time'}, shortTime(c.time)),
      h('td', null, c.host),
      h('td', null, c.model || '—'),
      h('th', {scope: 'row', class: 'first-message'},
        h('a', {href: viewHash(id, c.id)}, c.firstUserMessage || '(no user message)'),
        ' ', markList(c, false)),
      h('td', {class: 'num'}, `${c.inputTokens} / ${c.outputTokens}`),
      h('td', {class: 'num'}, size(c.requestBytes + c.responseBytes)),
      h('td', null, h('button', {type: 'button', class: 'small',
        'aria-label': `Delete the conversation of ${shortTime(c.time)}`, onclick: () => remove(c)},
      'Delete')));
  }

  function draw() {
    exportAll.disabled = list.length === 0;
    deleteAll.disabled = list.length === 0;
    const newest = [...list].reverse();
    replace(box, h('p', {id: 'conv-summary', class: 'help'},
      `${list.length} conversation${list.length === 1 ? '' : 's'}, newest first (UTC).`),
    list.length === 0 ? h('p', null, 'Nothing captured for this project.')
      : tableWrap('Conversations', ['Time', 'Host', 'Model', 'First user message',
        'Tokens in / out', 'Size', 'Delete'], newest.map(row)));
  }
  draw();
}

// ---- #/conversations/P/ID: one conversation ----
function toolCalls(calls) {
  if (!Array.isArray(calls) || calls.length === 0) return null;
  return h('ul', {class: 'tool-calls'}, calls.map((t) => h('li', {class: 'tool-call'},
    h('p', null, 'Tool call ', h('code', null, t.name || '(unnamed)'), t.id ? ` (${t.id})` : ''),
    h('pre', null, t.arguments || ''))));
}

function message(m, index, label) {
  const role = m.role || '(no role)';
  return h('li', {class: `message role-${/^[a-z]+$/.test(role) ? role : 'other'}`, 'data-index': index},
    h('h4', null, label || role),
    m.content ? h('div', {class: 'content'}, m.content) : null,
    toolCalls(m.tool_calls));
}

async function renderOne(main, id, cid, app) {
  let project;
  let c;
  try {
    const [p, one] = await Promise.all([api('GET', path.project(id)), api('GET', `${convPath(id, cid)}?bodies=1`)]);
    project = p.data.project;
    c = one.data;
  } catch (err) {
    replace(main, h('h2', null, 'Conversation'),
      h('p', null, h('a', {href: viewHash(id)}, 'Back to the conversations')));
    app.fail('Reading the conversation', err);
    return;
  }
  const conv = c.conversation || {};
  const usage = conv.usage || {};
  const messages = Array.isArray(conv.messages) ? conv.messages : [];
  // A reply with nothing in it (a cut or unknown response) is not shown as
  // a message: the body as received is.
  const reply = conv.reply && (conv.reply.content || (conv.reply.tool_calls || []).length);
  const facts = [
    ['Time (UTC)', shortTime(c.time)],
    ['Request', `${c.method} ${c.host}${c.path}`],
    ['Status', c.status ? String(c.status) : 'no response'],
    ['Model', c.model || conv.model || 'unknown'],
    ['Shape', conv.shape || 'raw'],
    ['Tokens', `${usage.input_tokens ?? c.inputTokens} in, ${usage.output_tokens ?? c.outputTokens} out`],
    ['Size', `request ${size(c.requestBytes)}, response ${size(c.responseBytes)}`],
    ['Streamed', c.streamed ? 'yes (Server-Sent Events)' : 'no'],
  ];
  replace(main,
    h('p', {class: 'crumbs'}, h('a', {href: '#/conversations'}, 'LLM conversations'), ' › ',
      h('a', {href: viewHash(id)}, project.projectName), ' › ', shortTime(c.time)),
    h('h2', null, 'Conversation'),
    h('dl', {id: 'conv-facts', class: 'facts'}, facts.map(([k, v]) => [h('dt', null, k), h('dd', null, v)])),
    marks(c).length ? h('p', {id: 'conv-marks'}, markList(c, true)) : null,
    h('div', {class: 'toolbar'},
      h('button', {type: 'button', id: 'conv-export', onclick: async () => {
        try {
          await download(`${convPath(id, cid)}?format=markdown`, `conversation-${id}-${cid}.md`);
          app.say('The conversation was exported.', 'ok');
        } catch (err) {
          app.fail('Exporting', err);
        }
      }}, 'Export as Markdown'),
      h('button', {type: 'button', id: 'conv-delete', class: 'danger', onclick: async () => {
        if (!(await confirmDialog(main, 'Delete this conversation?', 'It cannot be restored.', 'Delete'))) {
          app.say('Nothing was deleted.', 'info');
          return;
        }
        try {
          await api('DELETE', convPath(id, cid));
          app.go(viewHash(id));
        } catch (err) {
          app.fail('Deleting', err);
        }
      }}, 'Delete')),
    h('section', {'aria-labelledby': 'conv-messages-title'},
      h('h3', {id: 'conv-messages-title'}, 'Messages, in order'),
      h('ol', {id: 'conv-messages', class: 'messages'},
        messages.map((m, i) => message(m, i)),
        reply ? message(conv.reply, messages.length, 'assistant (the reply)') : null)),
    conv.raw || c.raw
      ? h('section', {'aria-labelledby': 'conv-raw-title'},
        h('h3', {id: 'conv-raw-title'}, 'Response as received'),
        h('pre', {id: 'conv-raw', class: 'raw'}, c.responseBody || '')) : null,
    h('details', null, h('summary', null, 'Headers (secrets removed)'),
      h('h4', null, 'Request'), h('pre', null, c.requestHeaders || ''),
      h('h4', null, 'Response'), h('pre', null, c.responseHeaders || '')));
}

export async function render(main, params, app) {
  const [id, cid] = params;
  if (!id) return renderIndex(main, app);
  if (!cid) return renderList(main, id, app);
  return renderOne(main, id, cid, app);
}
