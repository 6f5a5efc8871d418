// Audit: the newest entries of the audit log.
import {api} from '../api.js';
import {h, replace, tableWrap} from '../dom.js';

export async function render(main, params, app) {
  replace(main, h('h2', null, 'Audit'), h('p', {class: 'loading'}, 'Loading…'));
  try {
    const res = await api('GET', '/api/audit?limit=200');
    const entries = res.data.entries;
    replace(main, h('h2', null, 'Audit'),
      h('p', {class: 'help'}, `The newest ${entries.length} entries, newest first (UTC).`),
      tableWrap('Audit log', ['Time', 'Action', 'Target', 'Source', 'Detail'],
        entries.map((e) => h('tr', null,
          h('td', {class: 'time'}, e.time.replace('T', ' ').replace(/\.\d+Z$/, '')),
          h('td', null, e.action), h('td', null, e.target), h('td', null, e.source),
          h('td', null, e.detail)))));
  } catch (err) {
    replace(main, h('h2', null, 'Audit'));
    app.fail('Reading the audit log', err);
  }
}
