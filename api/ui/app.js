// The review page's shell: sign-in, navigation and the route table. Each
// view is one module in views/ exporting
//   render(main, params, app) → optional cleanup function
// where params are the path segments after the view's name
// ("#/review/3f9c2a7b1e04" → ["3f9c2a7b1e04"]). Adding a view is adding a
// file there and a line to ROUTES.
import {api, csrf, forgetToken, setSession, setToken, signedIn, whenUnauthorized, ApiError} from './api.js';
import {h, replace} from './dom.js';

const ROUTES = {
  projects: {title: 'Projects', load: () => import('./views/projects.js'), nav: true},
  review: {title: 'Review', load: () => import('./views/review.js'), nav: false},
  whitelists: {title: 'Whitelists', load: () => import('./views/whitelists.js'), nav: true},
  audit: {title: 'Audit', load: () => import('./views/audit.js'), nav: true},
  conversations: {title: 'LLM conversations', load: () => import('./views/conversations.js'), nav: true},
  cluster: {title: 'Cluster', load: () => import('./views/cluster.js'), nav: true},
};
const DEFAULT_ROUTE = 'projects';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const statusBox = document.getElementById('status');
const signOutButton = document.getElementById('signout');
const accountBox = document.getElementById('account');
let cleanup = null;
let signInMessage = '';

// What views share: messages in the live region, and navigation.
const app = {
  // Show a message in the status region (read out by screen readers).
  say(text, kind = 'info') {
    replace(statusBox, text ? h('p', {class: `msg ${kind}`}, text) : null);
  },
  // Show an API failure with the API's own message.
  fail(what, err) {
    const detail = err instanceof ApiError ? err.message : String(err);
    app.say(`${what}: ${detail}`, 'error');
  },
  go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
};

// Show who is signed in ("alice · teacher"), from GET /api/session.
async function showAccount() {
  try {
    const me = (await api('GET', '/api/session', {signingIn: true})).data;
    accountBox.textContent = `${me.account || 'admin token'} · ${me.role}`;
    accountBox.hidden = false;
  } catch (err) {
    accountBox.hidden = true;
  }
}

function signOut(message) {
  // A session ends on the server too; a token is only forgotten here.
  if (csrf()) api('DELETE', '/api/session', {signingIn: true}).catch(() => {});
  accountBox.hidden = true;
  forgetToken();
  signInMessage = message || '';
  app.say('');
  app.go('#/signin');
}

whenUnauthorized((body) => {
  signOut(`The server refused the token: ${body && body.message ? body.message : 'unauthorized'}. Sign in again.`);
});

function renderSignIn() {
  nav.hidden = true;
  signOutButton.hidden = true;
  document.title = 'Sign in · egress-policy';
  const nameInput = h('input', {id: 'signin-name', name: 'name', autocomplete: 'username',
    required: true});
  const passwordInput = h('input', {id: 'signin-password', name: 'password', type: 'password',
    autocomplete: 'current-password', required: true});
  const input = h('input', {id: 'token', name: 'token', type: 'password', autocomplete: 'off',
    required: true, 'aria-describedby': 'token-help'});
  const error = h('p', {id: 'signin-error', class: 'msg error', role: 'alert'}, signInMessage);
  error.hidden = !signInMessage;
  const accountForm = h('form', {class: 'signin', id: 'signin-account', onsubmit: async (e) => {
    e.preventDefault();
    try {
      const res = await api('POST', '/api/session', {signingIn: true,
        body: {name: nameInput.value.trim(), password: passwordInput.value}});
      setSession(res.data.csrfToken);
      signInMessage = '';
      await showAccount();
      location.hash = '#/projects';
    } catch (err) {
      error.textContent = err.status === 401 ? 'Wrong name or password.'
        : err.status === 429 ? `Too many wrong passwords: ${err.message}`
          : `Cannot sign in: ${err.message}`;
      error.hidden = false;
      passwordInput.select();
    }
  }},
  h('h2', null, 'Sign in'),
  h('label', {for: 'signin-name'}, 'Account'),
  nameInput,
  h('label', {for: 'signin-password'}, 'Password'),
  passwordInput,
  h('button', {type: 'submit'}, 'Sign in'));
  const form = h('form', {class: 'signin', onsubmit: async (e) => {
    e.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    setToken(value);
    try {
      // The cheapest call that needs the admin token.
      await api('GET', '/api/session', {signingIn: true});
      signInMessage = '';
      await showAccount();
      location.hash = '#/projects';
    } catch (err) {
      forgetToken();
      error.textContent = err.status === 401
        ? 'Wrong token: the server refused it.'
        : `Cannot sign in: ${err.message}`;
      error.hidden = false;
      input.select();
    }
  }},
  h('h2', null, 'Or with a token'),
  h('label', {for: 'token'}, 'Admin token'),
  input,
  h('p', {id: 'token-help', class: 'help'},
    'The admin token or a personal API token: kept for this browser tab only and sent as the Authorization header.'),
  h('button', {type: 'submit'}, 'Sign in with the token'));
  replace(main, accountForm, form, error);
  nameInput.focus();
}

function renderNav(current) {
  nav.hidden = false;
  signOutButton.hidden = false;
  replace(nav, h('ul', null, Object.entries(ROUTES).filter(([, r]) => r.nav).map(([name, r]) =>
    h('li', null, h('a', {href: `#/${name}`, 'aria-current': name === current ? 'page' : null},
      r.title)))));
}

async function route() {
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (!signedIn()) {
    // A reloaded tab may still hold a live session cookie: ask the server once.
    try {
      const me = (await api('GET', '/api/session', {signingIn: true})).data;
      if (me.csrfToken) setSession(me.csrfToken);
    } catch (err) {
      // not signed in
    }
  }
  if (!signedIn()) {
    renderSignIn();
    return;
  }
  if (accountBox.hidden) showAccount();
  let name = parts[0];
  if (!ROUTES[name]) name = DEFAULT_ROUTE;
  renderNav(name);
  app.say('');
  document.title = `${ROUTES[name].title} · egress-policy`;
  replace(main, h('p', {class: 'loading'}, 'Loading…'));
  try {
    const view = await ROUTES[name].load();
    const done = await view.render(main, parts.slice(1), app);
    if (typeof done === 'function') cleanup = done;
  } catch (err) {
    app.fail(`${ROUTES[name].title}`, err);
  }
}

// The skip link must not change the hash (the hash is the route).
document.getElementById('skip').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});
signOutButton.addEventListener('click', () => signOut('Signed out.'));
window.addEventListener('hashchange', route);
route();
