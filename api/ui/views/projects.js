// Projects: one page of the listing at a time (the API pages and filters,
// so 10,000 projects cost one page), the mode switchable in place.
import {api, path} from '../api.js';
import {h, replace, select, tableWrap} from '../dom.js';

const PAGE = 100;
const MODES = [['security', 'security'], ['logging', 'logging'], ['none', 'none']];

export async function render(main, params, app) {
  let offset = 0;
  let query = '';
  let timer = null;
  let alive = true;

  const filter = h('input', {id: 'project-filter', type: 'search', autocomplete: 'off',
    placeholder: 'name, id, type, profile or mode'});
  const summary = h('p', {id: 'projects-summary', class: 'help', 'aria-live': 'polite'});
  const tableBox = h('div', {id: 'projects-table'});
  const prev = h('button', {type: 'button', onclick: () => { offset = Math.max(0, offset - PAGE); load(); }},
    'Previous page');
  const next = h('button', {type: 'button', onclick: () => { offset += PAGE; load(); }}, 'Next page');

  filter.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      query = filter.value.trim();
      offset = 0;
      load();
    }, 200);
  });

  replace(main,
    h('h2', null, 'Projects'),
    h('div', {class: 'toolbar'},
      h('label', {for: 'project-filter'}, 'Filter projects'), filter),
    summary, tableBox,
    h('div', {class: 'pager'}, prev, next));

  async function setMode(project, selectEl) {
    const old = project.proxyMode;
    selectEl.disabled = true;
    try {
      const res = await api('PUT', `${path.project(project.projectId)}/proxy-mode`,
        {body: {proxyMode: selectEl.value}});
      project.proxyMode = res.data.project.proxyMode;
      app.say(`${project.projectName}: mode is now ${project.proxyMode}.`, 'ok');
    } catch (err) {
      selectEl.value = old;
      app.fail(`Changing the mode of ${project.projectName}`, err);
    } finally {
      selectEl.disabled = false;
    }
  }

  function row(p) {
    const modeSelect = select({'aria-label': `Proxy mode of ${p.projectName}`, class: 'mode',
      'data-project': p.projectId}, MODES, p.proxyMode);
    modeSelect.addEventListener('change', () => setMode(p, modeSelect));
    return h('tr', {'data-project': p.projectId},
      h('th', {scope: 'row'}, h('a', {href: `#/review/${encodeURIComponent(p.projectId)}`,
        class: 'project-name'}, p.projectName)),
      h('td', null, p.projectType),
      h('td', null, modeSelect),
      h('td', null, p.profile),
      h('td', null, p.status),
      h('td', null, p.ipAddress || '—'),
      h('td', {class: 'lock'}, p.passwordProtected
        ? h('span', {role: 'img', 'aria-label': 'password protected', title: 'password protected'}, '🔒')
        : h('span', {class: 'sr-only'}, 'not protected')),
      h('td', {class: 'num'}, p.recordedHosts === undefined ? '' : String(p.recordedHosts)));
  }

  async function load() {
    const qs = new URLSearchParams({limit: String(PAGE), offset: String(offset), recorded: '1'});
    if (query) qs.set('q', query);
    try {
      const res = await api('GET', `/api/projects?${qs}`);
      if (!alive) return;
      const d = res.data;
      const from = d.count ? d.offset + 1 : 0;
      const range = d.count ? `showing ${from}–${d.offset + d.count}` : 'none shown';
      // The API counts all projects cheaply, not the matches of a filter.
      summary.textContent = query
        ? `Projects matching “${query}”: ${range}${d.next ? ', more on the next page' : ''}.`
        : `${d.total} project${d.total === 1 ? '' : 's'}; ${range}.`;
      prev.disabled = d.offset === 0;
      next.disabled = d.next === null;
      replace(tableBox, d.count === 0 ? h('p', null, 'No projects.') :
        tableWrap('Projects', ['Name', 'Type', 'Mode', 'Profile', 'Status', 'IP', 'Lock',
          'Recorded hosts'], d.projects.map(row)));
    } catch (err) {
      app.fail('Listing the projects', err);
    }
  }

  await load();
  return () => {
    alive = false;
    clearTimeout(timer);
  };
}
