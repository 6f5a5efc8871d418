// Cluster: the nodes of a cluster (docs/cluster.md), polled every few
// seconds: each node's applied revision and lag behind the latest policy,
// its last heartbeat, whether it is alive, and the workspaces it maps;
// and the changes acknowledged but not yet in etcd. On a single host it
// says so.
import {api} from '../api.js';
import {h, replace, shortTime, tableWrap} from '../dom.js';

const POLL_MS = 3000;

export async function render(main, params, app) {
  let timer = null;
  let alive = true;

  async function draw() {
    let res;
    try {
      res = await api('GET', '/api/cluster');
    } catch (err) {
      app.fail('Reading the cluster', err);
      return;
    }
    if (!alive) return;
    const c = res.data;
    if (c.mode !== 'cluster') {
      replace(main, h('h2', null, 'Cluster'),
        h('p', {class: 'help'}, 'This server runs on a single host (no --etcd): there are no nodes.'));
      return;
    }
    const pub = c.publisher;
    const waiting = pub.pending > 0 ?
      `${pub.pending} change(s) acknowledged and waiting for etcd${pub.error ? ` (${pub.error})` : ''}.` :
      'Every acknowledged change is in etcd.';
    const rows = c.nodes.map((n) => h('tr', {class: n.alive ? null : 'denied'},
      h('td', null, n.name),
      h('td', null, n.alive ? 'alive' : 'not heard from'),
      h('td', {class: 'num'}, String(n.revision)),
      h('td', {class: 'num'}, n.lag === 0 ? 'current' : `${n.lag} behind`),
      h('td', {class: 'time'}, shortTime(n.lastHeartbeat)),
      h('td', null, n.workspaces.length ?
        n.workspaces.map((w) => `${w.project} (${w.ip})`).join(', ') : '—')));
    replace(main, h('h2', null, 'Cluster'),
      h('p', {class: 'help'}, c.reachable ?
        `Policy revision ${c.policyRevision}. ${waiting}` :
        `No etcd member answers. ${waiting} The nodes keep enforcing the last policy they had.`),
      tableWrap('Nodes', ['Node', 'State', 'Revision', 'Lag', 'Last heartbeat', 'Workspaces'], rows));
  }

  replace(main, h('h2', null, 'Cluster'), h('p', {class: 'loading'}, 'Loading…'));
  await draw();
  timer = setInterval(draw, POLL_MS);
  return () => {
    alive = false;
    clearInterval(timer);
  };
}
