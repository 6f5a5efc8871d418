// Review one project: what its workspace reached, grouped by category and
// registrable domain, with the rule of the target profile that already
// covers each host; choose hosts and promote them into a whitelist. A host
// reached on another port than 80 and 443 is listed as host:port, marked
// with its port, and promoted into a rule of that port (the API decides).
// The listing is polled with If-None-Match: an unchanged store costs a 304
// and nothing is redrawn; a change redraws with the selection kept.
import {api, path} from '../api.js';
import {h, replace, select, shortTime} from '../dom.js';

const POLL_MS = 3000;
const ROW_PX = 33; // the height of a row in app.css, for the size of groups not yet laid out
const FORMS = [
  ['suffix', 'Suffix: .host, the host and all its subdomains'],
  ['exact', 'Exact: only the host'],
  ['subdomains', 'Subdomains: *.host, its subdomains but not the host'],
];
const SORTS = [['name', 'Name'], ['count', 'Most requests'], ['last', 'Last seen'],
  ['denied', 'Most denied']];

export async function render(main, params, app) {
  const id = params[0];
  if (!id) {
    app.go('#/projects');
    return undefined;
  }
  const state = {
    project: null,
    profiles: [],
    target: '',
    etag: null,
    data: null,
    hosts: [],             // [{host, rec, group}]
    selected: new Set(),
    filter: {text: '', category: '', denied: false, notAllowed: false, sort: 'name'},
    timer: null,
    alive: true,
  };

  try {
    const [p, profiles] = await Promise.all([
      api('GET', path.project(id)),
      api('GET', '/api/profiles'),
    ]);
    state.project = p.data.project;
    state.profiles = profiles.data.profiles.map((x) => x.name);
    state.target = state.project.profile;
  } catch (err) {
    replace(main, h('h2', null, 'Review'), h('p', null, h('a', {href: '#/projects'}, 'Back to the projects')));
    app.fail('Loading the project', err);
    return undefined;
  }
  const project = state.project;

  // ---- the controls ----
  const textFilter = h('input', {id: 'review-filter', type: 'search', autocomplete: 'off'});
  const categorySelect = select({id: 'review-category'}, [['', 'All categories']], '');
  const deniedOnly = h('input', {id: 'review-denied', type: 'checkbox'});
  const notAllowed = h('input', {id: 'review-notallowed', type: 'checkbox'});
  const sortSelect = select({id: 'review-sort'}, SORTS, 'name');
  const summary = h('p', {id: 'review-summary', class: 'help'});
  const list = h('div', {id: 'review-list'});
  const selectedCount = h('span', {id: 'selected-count', 'aria-live': 'polite'}, '0 hosts selected');
  const profileInput = h('input', {id: 'promote-profile', list: 'profile-names', value: state.target,
    autocomplete: 'off', required: true, pattern: '[a-z0-9_-]{1,64}'});
  const profileList = h('datalist', {id: 'profile-names'},
    state.profiles.map((name) => h('option', {value: name})));
  const result = h('div', {id: 'promote-result', 'aria-live': 'polite'});
  const dialog = h('dialog', {id: 'replace-dialog', 'aria-labelledby': 'replace-title'});

  const radios = (name, options, checked) => options.map(([value, label]) =>
    h('label', {class: 'radio'}, h('input', {type: 'radio', name, value, checked: value === checked}),
      ' ', label));

  const form = h('form', {id: 'promote-form', class: 'promote', onsubmit: (e) => {
    e.preventDefault();
    promote();
  }},
  h('fieldset', null,
    h('legend', null, 'Promote the selected hosts'),
    h('p', null, selectedCount, ' ',
      h('button', {type: 'button', onclick: () => { state.selected.clear(); syncChecks(); }},
        'Clear the selection')),
    h('fieldset', {class: 'inline'}, h('legend', null, 'Rule form'), radios('form', FORMS, 'suffix')),
    h('p', {class: 'help'}, 'Rules cover ports 80 and 443. A host reached on another port ' +
      '(github.com:22) becomes a rule of that port only.'),
    h('label', {for: 'promote-profile'}, 'Target profile'), profileInput, profileList,
    h('fieldset', {class: 'inline'}, h('legend', null, 'How'),
      radios('how', [['add', 'Add to the profile'],
        ['replace', 'Replace the profile\'s rules (asks first)']], 'add')),
    h('button', {type: 'submit', id: 'promote-button'}, 'Promote')),
  result);

  const layout = h('div', {class: 'review-layout'});
  replace(main,
    h('p', {class: 'crumbs'}, h('a', {href: '#/projects'}, 'Projects'), ' › ', project.projectName,
      ' · ', h('a', {href: `#/conversations/${encodeURIComponent(id)}`}, 'LLM conversations')),
    h('h2', null, 'Review: ', h('span', {class: 'project-name'}, project.projectName)),
    h('p', {class: 'help'}, `Mode ${project.proxyMode}, profile ${project.profile}. `,
      'Coverage is shown for the target profile of the promotion form.'),
    layout,
    dialog);
  const hostsSection = h('section', {class: 'hosts', 'aria-labelledby': 'hosts-title'},
    h('h3', {id: 'hosts-title'}, 'Recorded hosts'),
    h('div', {class: 'toolbar'},
      h('label', {for: 'review-filter'}, 'Filter hosts'), textFilter,
      h('label', {for: 'review-category'}, 'Category'), categorySelect,
      h('label', {for: 'review-sort'}, 'Sort by'), sortSelect,
      h('span', {class: 'check'}, deniedOnly, h('label', {for: 'review-denied'}, 'Denied only')),
      h('span', {class: 'check'}, notAllowed,
        h('label', {for: 'review-notallowed'}, 'Not yet allowed'))),
    summary, list);
  const side = h('aside', {class: 'side', 'aria-label': 'Promotion'}, form);
  // Under 900 px the form comes before a long list, above it on screen and
  // in the DOM, so that Tab meets the controls in the order they are seen
  // (CSS order alone would move it only on screen).
  const narrow = window.matchMedia('(max-width: 900px)');
  const arrange = () => {
    // Moving a node blurs what has the focus inside it (a zoom can cross
    // the width): give it back.
    const focused = document.activeElement;
    if (narrow.matches) layout.replaceChildren(side, hostsSection);
    else layout.replaceChildren(hostsSection, side);
    if (focused && focused !== document.activeElement && layout.contains(focused)) {
      focused.focus({preventScroll: true});
    }
  };
  arrange();
  narrow.addEventListener('change', arrange);

  let filterTimer = null;
  textFilter.addEventListener('input', () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => { state.filter.text = textFilter.value.trim().toLowerCase(); draw(); }, 150);
  });
  categorySelect.addEventListener('change', () => { state.filter.category = categorySelect.value; draw(); });
  deniedOnly.addEventListener('change', () => { state.filter.denied = deniedOnly.checked; draw(); });
  notAllowed.addEventListener('change', () => { state.filter.notAllowed = notAllowed.checked; draw(); });
  sortSelect.addEventListener('change', () => { state.filter.sort = sortSelect.value; draw(); });
  profileInput.addEventListener('change', () => {
    const v = profileInput.value.trim();
    if (/^[a-z0-9_-]{1,64}$/.test(v) && v !== state.target) {
      state.target = v;
      state.etag = null;
      load();
    }
  });

  // ---- selection (kept across redraws) ----
  let hostBoxes = new Map();   // host → checkbox
  let groupBoxes = new Map();  // group key → {box, hosts}

  function syncChecks() {
    for (const [host, box] of hostBoxes) box.checked = state.selected.has(host);
    for (const {box, hosts} of groupBoxes.values()) {
      const n = hosts.filter((x) => state.selected.has(x)).length;
      box.checked = n > 0 && n === hosts.length;
      box.indeterminate = n > 0 && n < hosts.length;
    }
    const n = state.selected.size;
    selectedCount.textContent = `${n} host${n === 1 ? '' : 's'} selected`;
  }

  list.addEventListener('change', (e) => {
    const t = e.target;
    if (t.dataset.host) {
      if (t.checked) state.selected.add(t.dataset.host);
      else state.selected.delete(t.dataset.host);
    } else if (t.dataset.group) {
      const g = groupBoxes.get(t.dataset.group);
      for (const x of g.hosts) {
        if (t.checked) state.selected.add(x);
        else state.selected.delete(x);
      }
    } else {
      return;
    }
    syncChecks();
  });

  // ---- the listing ----
  function model(data) {
    const groupOf = new Map();
    for (const [group, hosts] of Object.entries(data.groups)) for (const x of hosts) groupOf.set(x, group);
    state.hosts = Object.entries(data.domains).map(([host, rec]) =>
      ({host, rec, group: groupOf.get(host) || host}));
    const categories = Object.keys(data.categorized);
    const current = categorySelect.value;
    replace(categorySelect, h('option', {value: ''}, 'All categories'),
      categories.map((c) => h('option', {value: c, selected: c === current},
        `${c} (${data.categorized[c].length})`)));
  }

  const sorters = {
    name: (a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0),
    count: (a, b) => b.rec.count - a.rec.count,
    last: (a, b) => (a.rec.last_seen < b.rec.last_seen ? 1 : a.rec.last_seen > b.rec.last_seen ? -1 : 0),
    denied: (a, b) => b.rec.denied - a.rec.denied,
  };

  // One host's row: a clone of a template row, its cells filled as text.
  const rowTemplate = h('div', {role: 'row', class: 'row host'},
    h('span', {role: 'cell', class: 'c-sel'}, h('input', {type: 'checkbox'})),
    h('span', {role: 'rowheader', class: 'hostname'}),
    h('span', {role: 'cell', class: 'num allowed'}),
    h('span', {role: 'cell', class: 'num denied-count'}),
    h('span', {role: 'cell', class: 'time'}),
    h('span', {role: 'cell', class: 'time'}),
    h('span', {role: 'cell', class: 'cover'}, h('span')));
  function hostRow(x) {
    const r = x.rec;
    const row = rowTemplate.cloneNode(true);
    const sel = row.firstChild;
    const name = sel.nextSibling;
    const allowed = name.nextSibling;
    const denied = allowed.nextSibling;
    const first = denied.nextSibling;
    const last = first.nextSibling;
    const cover = last.nextSibling;
    const box = sel.firstChild;
    row.dataset.host = x.host;
    if (r.denied > 0) row.classList.add('denied');
    box.dataset.host = x.host;
    box.setAttribute('aria-label', `Select ${x.host}`);
    hostBoxes.set(x.host, box);
    name.textContent = x.host;
    if (r.port) {
      // Another port than 80 and 443: what was asked for, and what a promotion makes of it.
      name.append(' ', h('span', {class: 'port-tag', title: `Reached on port ${r.port}; ` +
        `promoting it makes a rule of port ${r.port}`}, `port ${r.port}`));
    }
    allowed.textContent = String(r.allowed);
    denied.textContent = String(r.denied);
    first.textContent = shortTime(r.first_seen);
    last.textContent = shortTime(r.last_seen);
    if (r.rule) {
      cover.firstChild.className = 'covered';
      cover.firstChild.textContent = `covered by ${r.rule}${r.ruleFrom === 'base' ? ' (base)' : ''}`;
    } else {
      cover.firstChild.className = 'uncovered';
      cover.firstChild.textContent = 'not allowed yet';
    }
    return row;
  }

  // Drawing: the sections and the first rows at once, the rest in chunks
  // between frames, so a long listing shows at once and stays responsive.
  // A new draw cancels the chunks of the previous one.
  const FIRST_ROWS = 400;
  const CHUNK_ROWS = 1500;
  let drawSerial = 0;

  function groupElement(category, {name, hosts, agg}) {
    const key = `${category}\u0000${name}`;
    const groupBox = h('input', {type: 'checkbox', 'data-group': key,
      'aria-label': `Select all ${hosts.length} hosts of ${name}`});
    groupBoxes.set(key, {box: groupBox, hosts: hosts.map((x) => x.host)});
    const group = h('div', {role: 'rowgroup', class: 'group'},
      h('div', {role: 'row', class: 'row group-head'},
        h('span', {role: 'cell', class: 'c-sel'}, groupBox),
        h('span', {role: 'rowheader', class: 'group-name'}, name, ' ',
          h('span', {class: 'help'}, `${hosts.length} host${hosts.length === 1 ? '' : 's'}, ` +
            `${agg.rec.count} requests, ${agg.rec.denied} denied`))),
      hosts.map(hostRow));
    // Off-screen groups are neither laid out nor painted (content-visibility
    // in app.css); this is their size until they are. CSSOM, not a style
    // attribute: the CSP allows it.
    group.style.containIntrinsicSize = `auto ${(hosts.length + 1) * ROW_PX}px`;
    return group;
  }

  // all: every row at once (a refresh while the teacher is scrolled down
  // must not shrink the page under them).
  function draw(all = false) {
    const serial = ++drawSerial;
    const f = state.filter;
    const shown = state.hosts.filter((x) =>
      (!f.text || x.host.includes(f.text)) &&
      (!f.category || x.rec.category === f.category) &&
      (!f.denied || x.rec.denied > 0) &&
      (!f.notAllowed || !x.rec.rule));
    const sorter = sorters[f.sort];
    // category → group → hosts
    const byCategory = new Map();
    for (const c of Object.keys(state.data ? state.data.categorized : {})) byCategory.set(c, new Map());
    for (const x of shown) {
      if (!byCategory.has(x.rec.category)) byCategory.set(x.rec.category, new Map());
      const groups = byCategory.get(x.rec.category);
      if (!groups.has(x.group)) groups.set(x.group, []);
      groups.get(x.group).push(x);
    }
    const focused = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset : {};
    const focusHost = focused.host;
    const focusGroup = focused.group;
    hostBoxes = new Map();
    groupBoxes = new Map();
    const sections = [];
    const queue = []; // [table element, category, group]
    for (const [category, groups] of byCategory) {
      if (groups.size === 0) continue;
      const groupList = [...groups.entries()].map(([name, hosts]) => {
        hosts.sort(sorter);
        const agg = {host: name, rec: {
          count: hosts.reduce((n, x) => n + x.rec.count, 0),
          denied: hosts.reduce((n, x) => n + x.rec.denied, 0),
          last_seen: hosts.reduce((m, x) => (x.rec.last_seen > m ? x.rec.last_seen : m), ''),
        }};
        return {name, hosts, agg};
      });
      groupList.sort((a, b) => sorter(a.agg, b.agg));
      const hostCount = groupList.reduce((n, g) => n + g.hosts.length, 0);
      const table = h('div', {role: 'table', class: 'hosts-table', 'aria-label': `${category} hosts`},
        h('div', {role: 'rowgroup'}, h('div', {role: 'row', class: 'row head'},
          h('span', {role: 'columnheader', class: 'c-sel'}, h('span', {class: 'sr-only'}, 'Select')),
          h('span', {role: 'columnheader'}, 'Host'),
          h('span', {role: 'columnheader', class: 'num'}, 'Allowed'),
          h('span', {role: 'columnheader', class: 'num'}, 'Denied'),
          h('span', {role: 'columnheader', class: 'time'}, 'First seen (UTC)'),
          h('span', {role: 'columnheader', class: 'time'}, 'Last seen (UTC)'),
          h('span', {role: 'columnheader'}, `Rule in ${state.target}`))));
      for (const g of groupList) queue.push([table, category, g]);
      sections.push(h('section', {class: 'category', 'data-category': category},
        h('h4', null, `${category} `, h('span', {class: 'help'},
          `${hostCount} host${hostCount === 1 ? '' : 's'} in ${groupList.length} domain${groupList.length === 1 ? '' : 's'}`)),
        h('div', {class: 'table-wrap'}, table)));
    }
    const total = state.hosts.length;
    summary.textContent = `${shown.length} of ${total} recorded host${total === 1 ? '' : 's'} shown.`;

    let next = 0;
    const fill = (rows) => {
      for (let n = 0; next < queue.length && n < rows; next++) {
        const [table, category, g] = queue[next];
        table.appendChild(groupElement(category, g));
        n += g.hosts.length + 1;
      }
      syncChecks();
      if (next < queue.length) {
        setTimeout(() => { if (serial === drawSerial && state.alive) fill(CHUNK_ROWS); }, 0);
      } else {
        // For tests and the benchmark: when every row was in the page (ms since navigation).
        list.setAttribute('data-complete', String(Math.round(performance.now())));
      }
    };
    list.removeAttribute('data-complete');
    fill(all ? Infinity : FIRST_ROWS);
    replace(list, sections.length ? sections : h('p', null, total ? 'No host matches the filters.'
      : 'Nothing recorded yet. The page refreshes on its own while the workspace is used.'));
    const again = focusHost ? hostBoxes.get(focusHost) : focusGroup ? (groupBoxes.get(focusGroup) || {}).box : null;
    if (again) again.focus({preventScroll: true});
  }

  async function load() {
    const qs = new URLSearchParams({coverage: '1', profile: state.target});
    try {
      const res = await api('GET', `${path.project(id)}/recorded-domains?${qs}`, {etag: state.etag});
      if (!state.alive || res.status === 304) return;
      const refresh = state.data !== null;
      state.etag = res.etag;
      state.data = res.data;
      model(res.data);
      draw(refresh);
      // For tests and the benchmark: when the listing was first drawn (ms since navigation).
      list.setAttribute('data-loaded', String(Math.round(performance.now())));
    } catch (err) {
      app.fail('Reading the recorded hosts', err);
    }
  }

  // ---- promotion ----
  function choice(name) {
    const el = form.querySelector(`input[name="${name}"]:checked`);
    return el ? el.value : '';
  }

  function showResult(d) {
    const item = (text) => h('li', null, text);
    replace(result,
      h('h4', null, `Promoted into ${d.profile}${d.replaced ? ' (replaced)' : ''}`),
      h('p', null, `Added ${d.added.length}, already covered ${d.covered.length}, refused ${d.refused.length}.`),
      d.added.length ? [h('h5', null, 'Added'), h('ul', {class: 'added'}, d.added.map(item))] : null,
      d.covered.length ? [h('h5', null, 'Already covered'),
        h('ul', {class: 'covered-list'}, d.covered.map((c) => item(`${c.domain}: by ${c.rule}`)))] : null,
      d.refused.length ? [h('h5', null, 'Refused'),
        h('ul', {class: 'refused'}, d.refused.map((c) => item(`${c.domain}: ${c.message}`)))] : null);
  }

  // Ask before replacing: which rules of the profile go away, as the
  // promote's dry run answered (the page never works out rules itself).
  function confirmReplace(profile, {removed, added}) {
    return new Promise((resolve) => {
      const yes = h('button', {type: 'button', id: 'replace-confirm', class: 'danger'},
        `Replace: remove ${removed.length} rule${removed.length === 1 ? '' : 's'}`);
      const no = h('button', {type: 'button', id: 'replace-cancel'}, 'Cancel');
      replace(dialog,
        h('h3', {id: 'replace-title'}, `Replace the rules of ${profile}?`),
        h('p', null, `The profile will hold exactly the ${added.length} promoted rule${added.length === 1 ? '' : 's'}` +
          (added.length ? ':' : '.')),
        added.length ? h('ul', {id: 'replace-added'}, added.map((r) => h('li', null, r))) : null,
        removed.length ? [h('p', null, 'These rules will be removed:'),
          h('ul', {id: 'replace-removed'}, removed.map((r) => h('li', null, r)))]
          : h('p', null, 'No rule will be removed.'),
        h('div', {class: 'buttons'}, no, yes));
      const finish = (answer) => {
        dialog.close();
        resolve(answer);
      };
      yes.addEventListener('click', () => finish(true));
      no.addEventListener('click', () => finish(false));
      dialog.addEventListener('cancel', () => resolve(false), {once: true});
      dialog.showModal();
      no.focus();
    });
  }

  async function promote() {
    const domains = [...state.selected];
    const form_ = choice('form');
    const replaceAll = choice('how') === 'replace';
    const profile = profileInput.value.trim();
    if (domains.length === 0) {
      app.say('Select at least one host to promote.', 'error');
      return;
    }
    if (!/^[a-z0-9_-]{1,64}$/.test(profile)) {
      app.say('The target profile must be 1–64 of a-z, 0-9, _ and -.', 'error');
      profileInput.focus();
      return;
    }
    try {
      const url = `${path.project(id)}/recorded-domains/promote`;
      const body = {domains, form: form_, profile, replace: replaceAll};
      if (replaceAll) {
        const preview = await api('POST', url, {body: {...body, dryRun: true}});
        if (!(await confirmReplace(profile, preview.data))) {
          app.say('Nothing was changed.', 'info');
          return;
        }
      }
      const res = await api('POST', url, {body});
      showResult(res.data);
      app.say(`Promotion into ${profile} done.`, 'ok');
      const refused = new Set(res.data.refused.map((r) => r.domain));
      for (const x of domains) if (!refused.has(x)) state.selected.delete(x);
      state.target = profile;
      state.etag = null;
      await load();
    } catch (err) {
      app.fail('Promoting', err);
    }
  }

  await load();
  const poll = async () => {
    if (!state.alive) return;
    await load();
    if (state.alive) state.timer = setTimeout(poll, POLL_MS);
  };
  state.timer = setTimeout(poll, POLL_MS);
  return () => {
    state.alive = false;
    clearTimeout(state.timer);
    clearTimeout(filterTimer);
    narrow.removeEventListener('change', arrange);
  };
}
