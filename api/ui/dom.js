// Building the page without HTML strings: every piece of text, whoever
// wrote it (project names, hosts, rule messages), goes in as a text node.
// Nothing in the page ever assigns innerHTML.

// h('tag', {attr: value, class: 'x', onclick: fn}, child, ...): an element.
// Children are nodes, strings (text nodes), numbers, arrays, null/false (skipped).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2), value);
      } else if (key === 'class') {
        el.className = value;
      } else if (key === 'checked' || key === 'value' || key === 'selected' ||
                 key === 'indeterminate' || key === 'disabled') {
        el[key] = value;
      } else {
        el.setAttribute(key, value === true ? '' : String(value));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
  return el;
}

// Replace everything inside el.
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// "2024-05-01T12:00:00Z" (or with fractions of a second) as
// "2024-05-01 12:00" (UTC, as the API stores it).
export function shortTime(iso) {
  if (typeof iso !== 'string') return '';
  return iso.replace(/\.\d+Z$/, 'Z').replace('T', ' ').replace(/:\d\dZ$/, '').replace(/Z$/, '');
}

// A <select> of options [value, label] with one selected.
export function select(attrs, options, selected) {
  return h('select', attrs, options.map(([value, label]) =>
    h('option', {value, selected: value === selected}, label)));
}

// A table wrapped so it scrolls sideways on a narrow screen.
export function tableWrap(caption, head, rows) {
  return h('div', {class: 'table-wrap'},
    h('table', null,
      caption ? h('caption', null, caption) : null,
      h('thead', null, h('tr', null, head.map((c) => h('th', {scope: 'col'}, c)))),
      h('tbody', null, rows)));
}
