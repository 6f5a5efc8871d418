// The API client. Two ways in: an account's session (an HttpOnly cookie
// the page never sees, plus the session's CSRF token, kept in this tab's
// sessionStorage and sent as X-CSRF-Token on every write), or a token
// (the admin token or a personal API token) kept in sessionStorage and
// sent only as the Bearer header.

const KEY = 'egress-admin-token';
const CSRF_KEY = 'egress-csrf';

export class ApiError extends Error {
  constructor(status, body) {
    const message = body && typeof body.message === 'string' ? body.message
      : `the server answered ${status}`;
    super(message);
    this.status = status;
    this.body = body || {};
  }
}

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(value) {
  sessionStorage.setItem(KEY, value);
}

export function forgetToken() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(CSRF_KEY);
}

// The signed-in session's CSRF token, or null.
export function csrf() {
  return sessionStorage.getItem(CSRF_KEY);
}

export function setSession(csrfToken) {
  sessionStorage.removeItem(KEY);
  sessionStorage.setItem(CSRF_KEY, csrfToken);
}

export function signedIn() {
  return Boolean(token() || csrf());
}

// Listeners told when the server refuses the token (it changed, or was wrong).
const onUnauthorized = [];
export function whenUnauthorized(fn) {
  onUnauthorized.push(fn);
}

// api(method, path, {body, etag, signingIn}) → {status, data, etag}. A 304 (answer to
// etag) has data null. Throws ApiError with the API's own message.
export async function api(method, path, options = {}) {
  const headers = {Accept: 'application/json'};
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  else if (csrf() && method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrf();
  if (options.etag) headers['If-None-Match'] = options.etag;
  let body;
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  let res;
  try {
    res = await fetch(path, {method, headers, body, cache: 'no-store', credentials: 'same-origin'});
  } catch (e) {
    throw new ApiError(0, {message: `the server cannot be reached (${e.message})`});
  }
  if (res.status === 304) return {status: 304, data: null, etag: options.etag};
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (e) {
      data = {message: `the server answered ${res.status} with something that is not JSON`};
    }
  }
  if (!res.ok) {
    if (res.status === 401 && signedIn() && !options.signingIn) onUnauthorized.forEach((fn) => fn(data));
    throw new ApiError(res.status, data);
  }
  return {status: res.status, data, etag: res.headers.get('ETag')};
}

export const path = {
  project: (id) => `/api/projects/${encodeURIComponent(id)}`,
};

// download(path, filename): fetch a text answer with the token and hand it
// to the browser as a file (an <a download> on a blob: URL; the token never
// goes into a URL). Throws ApiError as api() does.
export async function download(path, filename) {
  const headers = {};
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  let res;
  try {
    res = await fetch(path, {headers, cache: 'no-store', credentials: 'same-origin'});
  } catch (e) {
    throw new ApiError(0, {message: `the server cannot be reached (${e.message})`});
  }
  if (!res.ok) {
    let data = null;
    try {
      data = await res.json();
    } catch (e) {
      data = null;
    }
    if (res.status === 401 && signedIn()) onUnauthorized.forEach((fn) => fn(data));
    throw new ApiError(res.status, data);
  }
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.hidden = true;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
