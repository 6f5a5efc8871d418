// Whitelists: the rules of one profile (add with the API's validation
// message, remove), the base domains read-only, and "would this host (or
// host:port) be allowed for project P?" through the check endpoint.
import {api, path} from '../api.js';
import {h, replace, select} from '../dom.js';

export async function render(main, params, app) {
  let profile = params[0] || '';
  let profiles = [];
  let projects = [];
  try {
    const [pr, pj] = await Promise.all([api('GET', '/api/profiles'),
      api('GET', '/api/projects?limit=1000')]);
    profiles = pr.data.profiles.map((x) => x.name);
    projects = pj.data.projects;
  } catch (err) {
    app.fail('Loading the profiles', err);
    return;
  }
  if (!profile) profile = profiles.includes('default') || profiles.length === 0 ? 'default' : profiles[0];
  if (!profiles.includes(profile)) profiles.push(profile);

  const profileSelect = select({id: 'wl-profile'}, profiles.map((x) => [x, x]), profile);
  const rulesBox = h('div', {id: 'wl-rules'});
  const baseBox = h('div', {id: 'wl-base'});
  const ruleInput = h('input', {id: 'wl-new-rule', autocomplete: 'off', required: true,
    'aria-describedby': 'wl-add-help wl-add-error', placeholder: '.example.org'});
  const ruleHelp = h('p', {id: 'wl-add-help', class: 'help'}, 'A rule covers ports 80 and 443; ' +
    'end it with :PORT to allow another port instead, as in github.com:22.');
  const addError = h('p', {id: 'wl-add-error', class: 'msg error', role: 'alert'});
  addError.hidden = true;
  const checkProject = select({id: 'check-project'},
    projects.map((p) => [p.projectId, `${p.projectName} (${p.profile}, ${p.proxyMode})`]),
    projects.length ? projects[0].projectId : '');
  const checkHost = h('input', {id: 'check-host', autocomplete: 'off', required: true,
    placeholder: 'pypi.org or github.com:22'});
  const checkResult = h('p', {id: 'check-result', 'aria-live': 'polite'});

  profileSelect.addEventListener('change', () => app.go(`#/whitelists/${encodeURIComponent(profileSelect.value)}`));

  replace(main,
    h('h2', null, 'Whitelists'),
    h('div', {class: 'toolbar'}, h('label', {for: 'wl-profile'}, 'Profile'), profileSelect),
    h('div', {class: 'columns'},
      h('section', {'aria-labelledby': 'wl-rules-title'},
        h('h3', {id: 'wl-rules-title'}, `Rules of ${profile}`),
        h('form', {id: 'wl-add', class: 'inline-form', onsubmit: (e) => { e.preventDefault(); add(); }},
          h('label', {for: 'wl-new-rule'}, 'New rule'), ruleInput,
          h('button', {type: 'submit'}, 'Add rule'), ruleHelp, addError),
        rulesBox),
      h('section', {'aria-labelledby': 'wl-base-title'},
        h('h3', {id: 'wl-base-title'}, 'Base domains'),
        h('p', {class: 'help'}, 'Always allowed for every profile; set by the administrator (--base-domains).'),
        baseBox),
      h('section', {'aria-labelledby': 'check-title'},
        h('h3', {id: 'check-title'}, 'Would this host be allowed?'),
        h('form', {id: 'check-form', onsubmit: (e) => { e.preventDefault(); check(); }},
          h('label', {for: 'check-project'}, 'Project'), checkProject,
          h('label', {for: 'check-host'}, 'Host, or host:port'), checkHost,
          h('button', {type: 'submit'}, 'Check')),
        checkResult)));

  async function load() {
    try {
      const res = await api('GET', `/api/whitelist?profile=${encodeURIComponent(profile)}`);
      const d = res.data;
      replace(rulesBox, d.domains.length === 0 ? h('p', null, 'No rules yet.')
        : h('ul', {class: 'rules'}, d.domains.map((rule) => h('li', null,
          h('code', null, rule), ' ',
          h('button', {type: 'button', class: 'small', 'aria-label': `Remove rule ${rule}`,
            onclick: () => remove(rule)}, 'Remove')))));
      replace(baseBox, d.base.length === 0 ? h('p', null, 'None.')
        : h('ul', {class: 'rules base'}, d.base.map((rule) => h('li', null, h('code', null, rule)))));
    } catch (err) {
      app.fail(`Reading the rules of ${profile}`, err);
    }
  }

  async function add() {
    const rule = ruleInput.value.trim();
    if (!rule) return;
    addError.hidden = true;
    try {
      const res = await api('POST', '/api/whitelist/domains', {body: {domain: rule, profile}});
      app.say(res.data.added.length ? `Added ${res.data.added.join(', ')} to ${profile}.`
        : `${rule} is already in ${profile}.`, 'ok');
      ruleInput.value = '';
      await load();
    } catch (err) {
      const errors = err.body && Array.isArray(err.body.errors) ? err.body.errors : [];
      addError.textContent = errors.length ? errors.map((x) => x.message).join(' ') : err.message;
      addError.hidden = false;
      ruleInput.focus();
    }
  }

  async function remove(rule) {
    try {
      await api('DELETE', `/api/whitelist/domains/${encodeURIComponent(rule)}?profile=${encodeURIComponent(profile)}`);
      app.say(`Removed ${rule} from ${profile}.`, 'ok');
      await load();
    } catch (err) {
      app.fail(`Removing ${rule}`, err);
    }
  }

  async function check() {
    const host = checkHost.value.trim();
    if (!host || !checkProject.value) return;
    try {
      const d = (await api('GET', `${path.project(checkProject.value)}/check?host=${encodeURIComponent(host)}`)).data;
      // Another port than 80 and 443 comes back as "port": shown as host:port.
      const where = d.port ? `${d.host.includes(':') ? `[${d.host}]` : d.host}:${d.port}` : d.host;
      checkResult.className = d.verdict === 'allow' ? 'verdict allow' : 'verdict deny';
      checkResult.textContent = `${where}: ${d.verdict === 'allow' ? 'allowed' : 'denied'} ` +
        `(${d.reason}${d.rule ? `, rule ${d.rule}` : ''}; profile ${d.profile}, mode ${d.proxyMode}).`;
    } catch (err) {
      checkResult.className = 'verdict deny';
      checkResult.textContent = err.message;
    }
  }

  await load();
}
