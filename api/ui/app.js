// The review page's shell: sign-in, navigation and the route table. Each
// view is one module in views/ exporting
//   render(main, params, app) → optional cleanup function
// where params are the path segments after the view's name
// ("#/review/3f9c2a7b1e04" → ["3f9c2a7b1e04"]). Adding a view is adding a
// file there and a line to ROUTES.
import {api, forgetToken, setToken, token, whenUnauthorized, ApiError} from './api.js';
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

function signOut(message) {
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
  const input = h('input', {id: 'token', name: 'token', type: 'password', autocomplete: 'off',
    required: true, 'aria-describedby': 'token-help'});
  const error = h('p', {id: 'signin-error', class: 'msg error', role: 'alert'}, signInMessage);
  error.hidden = !signInMessage;
  const form = h('form', {class: 'signin', onsubmit: async (e) => {
    e.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    setToken(value);
    try {
      // The cheapest call that needs the admin token.
      await api('GET', '/api/profiles', {signingIn: true});
      signInMessage = '';
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
  h('h2', null, 'Sign in'),
  h('label', {for: 'token'}, 'Admin token'),
  input,
  h('p', {id: 'token-help', class: 'help'},
    'Kept for this browser tab only and sent as the Authorization header.'),
  h('button', {type: 'submit'}, 'Sign in'),
  error);
  replace(main, form);
  input.focus();
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
  if (!token()) {
    renderSignIn();
    return;
  }
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
