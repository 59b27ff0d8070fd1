// Signpost's dashboard: the services, each service's instances and why each
// is or is not answered, the records a query gets, and the recent events,
// kept up to date from the server's event stream. Plain JavaScript, no
// build step; every request goes to the page's own origin (the API).
'use strict';

const maxEvents = 200; // events kept on the page
const maxExplained = 50; // services whose explanation the list page fetches
const minRefresh = 1000; // ms between two refreshes, however many events come
const pollService = 5000; // ms between refreshes of a service page: probes run without events

const state = {
  services: [], // GET /v1/services
  details: new Map(), // service -> GET /v1/services/{service}
  explain: new Map(), // service -> GET /v1/explain/{service}
  events: [], // newest last
  lastIndex: 0, // of the newest event on the page
  missed: false, // events were dropped before the page saw them
  skew: 0, // server clock minus this browser's, in ms
  source: null, // the EventSource
  tokenRequired: false,
  dirty: new Set(), // services with events since their explanation was read
  allDirty: true, // an event of the whole registry: read every explanation again
};

class AuthError extends Error {}

// el builds an element: attributes from props, children as nodes or text.
// Text always goes in as text, never as HTML.
function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

async function getJSON(path) {
  const r = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store', credentials: 'same-origin' });
  if (r.status === 401) throw new AuthError('sign in');
  if (!r.ok) {
    let msg = r.status + ' ' + r.statusText;
    try { msg = (await r.json()).error || msg; } catch (_) { /* not JSON */ }
    const err = new Error(msg);
    err.status = r.status;
    throw err;
  }
  return r.json();
}

// route reads the page from the URL's fragment: #/ or #/service/NAME.
function route() {
  const m = location.hash.match(/^#\/service\/([^/?#]+)/);
  return m ? { page: 'service', service: decodeURIComponent(m[1]) } : { page: 'services' };
}

function serviceHref(name) { return '#/service/' + encodeURIComponent(name); }

// ---- loading ----

let loading = null; // the refresh in flight
let again = false; // another refresh is due after it
let timer = null;
let lastRefresh = 0;

// schedule refreshes the data soon, at most once a second, coalescing
// bursts of events.
function schedule() {
  if (timer) return;
  const wait = Math.max(100, lastRefresh + minRefresh - Date.now());
  timer = setTimeout(() => { timer = null; refresh(); }, wait);
}

async function refresh() {
  if (loading) { again = true; return loading; }
  lastRefresh = Date.now();
  loading = (async () => {
    try {
      await load();
      showError('');
      render();
    } catch (e) {
      handleError(e);
    }
  })();
  await loading;
  loading = null;
  if (again) { again = false; schedule(); }
}

async function load() {
  const r = route();
  state.services = await getJSON('/v1/services');
  if (r.page === 'service') {
    await Promise.all([loadDetail(r.service), loadExplain(r.service)]);
    return;
  }
  const names = state.services.map((s) => s.service).slice(0, maxExplained);
  for (const name of [...state.explain.keys()]) {
    if (!names.includes(name)) state.explain.delete(name);
  }
  // Only the explanations that events may have changed are read again.
  const stale = names.filter((n) => state.allDirty || state.dirty.has(n) || !state.explain.has(n));
  state.allDirty = false;
  state.dirty.clear();
  await Promise.all(stale.map(loadExplain));
}

async function loadDetail(name) {
  try {
    state.details.set(name, await getJSON('/v1/services/' + encodeURIComponent(name)));
  } catch (e) {
    if (e.status !== 404) throw e;
    state.details.delete(name);
  }
}

async function loadExplain(name) {
  try {
    const x = await getJSON('/v1/explain/' + encodeURIComponent(name));
    state.explain.set(name, x);
    state.skew = Date.parse(x.time) - Date.now();
  } catch (e) {
    // 404: gone meanwhile; 501: a server that does not explain.
    if (e.status !== 404 && e.status !== 501) throw e;
    state.explain.delete(name);
  }
}

function handleError(e) {
  if (e instanceof AuthError) {
    showLogin();
    return;
  }
  showError('Cannot read the API: ' + e.message);
}

function showError(msg) {
  const p = document.getElementById('error');
  p.textContent = msg;
  p.hidden = msg === '';
}

// ---- the event stream ----

function connect() {
  if (state.source) state.source.close();
  const es = new EventSource('/v1/events/stream');
  state.source = es;
  es.onopen = () => setLive('live');
  es.onmessage = (m) => {
    let e;
    try { e = JSON.parse(m.data); } catch (_) { return; }
    addEvent(e);
    if (e.service) state.dirty.add(e.service);
    else state.allDirty = true;
    schedule();
  };
  es.addEventListener('missed', () => {
    // The server no longer has some events, or restarted and numbers
    // anew: what follows is all it keeps.
    state.missed = true;
    state.events = [];
    state.lastIndex = 0;
    state.allDirty = true;
    renderEvents();
  });
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) {
      // Refused (a session that ran out) or a server that went away for
      // good: ask again in a while, signing in if need be.
      setLive('offline');
      es.close();
      setTimeout(start, 3000);
    } else {
      setLive('reconnecting');
    }
  };
}

function addEvent(e) {
  if (e.index <= state.lastIndex) return; // seen before a reconnection
  state.lastIndex = e.index;
  state.events.push(e);
  if (state.events.length > maxEvents) state.events.splice(0, state.events.length - maxEvents);
  renderEvents();
}

function setLive(s) {
  const span = document.getElementById('live');
  span.dataset.state = s;
  span.textContent = s;
}

// ---- signing in ----

function showLogin() {
  if (state.source) { state.source.close(); state.source = null; }
  setLive('signed out');
  document.getElementById('main').replaceChildren();
  document.getElementById('login').hidden = false;
  document.getElementById('logout').hidden = true;
  document.getElementById('token').focus();
}

async function login(ev) {
  ev.preventDefault();
  const input = document.getElementById('token');
  const r = await fetch('/ui/login', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, credentials: 'same-origin',
    body: JSON.stringify({ token: input.value }),
  });
  if (!r.ok) {
    let msg = 'Sign-in failed (' + r.status + ')';
    try { msg = (await r.json()).error || msg; } catch (_) { /* not JSON */ }
    document.getElementById('login-error').textContent = msg;
    return;
  }
  input.value = '';
  document.getElementById('login-error').textContent = '';
  document.getElementById('login').hidden = true;
  start();
}

async function logout() {
  await fetch('/ui/logout', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, credentials: 'same-origin', body: '{}',
  });
  showLogin();
}

// ---- rendering ----

function render() {
  const r = route();
  const main = document.getElementById('main');
  const crumbs = document.getElementById('crumbs');
  if (r.page === 'service') {
    crumbs.replaceChildren(el('a', { href: '#/' }, 'Services'), ' / ', el('span', {}, r.service));
    main.replaceChildren(renderService(r.service), eventsSection(r.service));
  } else {
    crumbs.replaceChildren(el('span', {}, 'Services'));
    main.replaceChildren(renderServices(), eventsSection(''));
  }
  renderEvents();
  tick();
}

function seconds(s) {
  if (s === undefined || s === null) return '';
  if (s < 1 && s > 0) return Math.round(s * 1000) + 'ms';
  if (s < 120) return (Math.round(s * 10) / 10) + 's';
  const total = Math.round(s);
  const parts = [[Math.floor(total / 3600), 'h'], [Math.floor(total / 60) % 60, 'm'], [total % 60, 's']];
  return parts.filter(([n]) => n > 0).map(([n, u]) => n + u).join('');
}

function healthBadge(health) {
  return el('span', { class: 'badge ' + health, 'data-health': health }, health);
}

function budgetText(b) {
  if (!b) return '';
  return seconds(b.seconds);
}

function budgetDetail(b) {
  if (!b) return '';
  let s = 'at most ' + seconds(b.seconds) + ': detection ' + seconds(b.detection);
  if (b.detection_by) s += ' (' + b.detection_by + ')';
  s += ' + answer TTL ' + seconds(b.ttl) + '; negative answers ' + seconds(b.negative_ttl);
  return s;
}

function failoverText(f) {
  if (!f || !f.configured) return '';
  const rule = 'to ' + f.target + ' below ' + f.min_healthy + ' healthy';
  return (f.active ? 'ACTIVE: ' : '') + rule + ' (' + f.healthy + ' now)';
}

function renderServices() {
  const rows = state.services.map((s) => {
    const x = state.explain.get(s.service);
    return el('tr', { 'data-service': s.service },
      el('td', {}, el('a', { href: serviceHref(s.service) }, s.service)),
      el('td', { class: 'num' }, s.instances),
      el('td', { class: 'num passing' }, s.passing),
      el('td', { class: 'num warning' }, s.warning),
      el('td', { class: 'num critical' }, s.critical),
      el('td', { class: 'num', 'data-budget': x ? x.staleness_budget.seconds : '' }, x ? budgetText(x.staleness_budget) : ''),
      el('td', { class: x && x.failover.active ? 'failover active' : 'failover' }, x ? failoverText(x.failover) : ''),
    );
  });
  const table = el('table', { id: 'services' },
    el('thead', {}, el('tr', {},
      el('th', {}, 'Service'), el('th', {}, 'Instances'), el('th', {}, 'Passing'), el('th', {}, 'Warning'),
      el('th', {}, 'Critical'), el('th', { title: 'the longest a client may still be sent to a failed instance' }, 'Staleness budget'),
      el('th', {}, 'Failover'))),
    el('tbody', {}, rows));
  return el('section', {},
    el('h1', {}, 'Services'),
    rows.length ? table : el('p', { class: 'empty' }, 'No service is registered.'));
}

function renderService(name) {
  const d = state.details.get(name);
  const x = state.explain.get(name);
  if (!d) {
    return el('section', { id: 'service', 'data-service': name, 'data-gone': true },
      el('h1', {}, name), el('p', { class: 'empty' }, 'Service ' + name + ' is not registered (any more).'));
  }
  const reports = new Map((x ? x.instances : []).map((i) => [i.id, i]));
  const facts = [
    ['Instances', d.instances.length + ' (' + d.passing + ' passing, ' + d.warning + ' warning, ' + d.critical + ' critical)'],
  ];
  if (x) {
    facts.push(['Answered', x.answered + ' of ' + x.eligible + ' eligible']);
    facts.push(['Staleness budget', budgetDetail(x.staleness_budget)]);
    if (x.failover.configured) facts.push(['Failover', failoverText(x.failover)]);
    if (x.self_preservation) facts.push(['Self-preservation', 'ON: lease expiry is paused']);
  }
  return el('section', { id: 'service', 'data-service': name },
    el('h1', {}, name),
    el('dl', { class: 'facts' }, facts.map(([k, v]) => [el('dt', {}, k), el('dd', { 'data-fact': k }, v)])),
    x && x.reasons.length ? el('ul', { class: 'reasons service-reasons' }, x.reasons.map(reasonItem)) : null,
    el('h2', {}, 'Instances'),
    d.instances.length ? instancesTable(d.instances, reports) : el('p', { class: 'empty' }, 'No instance.'),
    el('h2', {}, 'Records'),
    x ? recordsBlock(x.records) : el('p', { class: 'empty' }, 'This server does not explain its answers.'),
  );
}

function reasonItem(r) {
  return el('li', { 'data-code': r.code }, r.text);
}

function instancesTable(instances, reports) {
  const rows = instances.map((i) => {
    const rep = reports.get(i.id);
    const src = rep ? rep.source : null;
    return el('tr', { 'data-instance': i.id, 'data-health': i.health },
      el('td', {}, i.id),
      el('td', { class: 'mono' }, i.address.includes(':') ? '[' + i.address + ']:' + i.port : i.address + ':' + i.port),
      el('td', {}, healthBadge(i.health)),
      el('td', { 'data-served': rep ? String(rep.served) : '' }, rep ? (rep.served ? 'yes' : 'no') : ''),
      el('td', {}, sourceText(i, src)),
      el('td', {}, leaseCell(i, src)),
      el('td', { class: 'probe' }, probeCell(src)),
      el('td', {}, rep ? el('ul', { class: 'reasons' }, rep.reasons.map(reasonItem)) : ''),
    );
  });
  return el('table', { id: 'instances' },
    el('thead', {}, el('tr', {},
      el('th', {}, 'Instance'), el('th', {}, 'Address'), el('th', {}, 'Health'), el('th', {}, 'Served'),
      el('th', {}, 'Source'), el('th', {}, 'Lease'), el('th', {}, 'Last probe'), el('th', {}, 'Why'))),
    el('tbody', {}, rows));
}

function sourceText(i, src) {
  const kind = src ? src.kind : (i.ttl ? 'lease' : i.check ? 'probe' : 'static');
  const from = i.source === 'corefile' ? 'Corefile' : 'API';
  let what = kind;
  if (src && src.check) what += ' ' + src.check.type + ' every ' + seconds(src.check.interval);
  else if (i.ttl) what += ' ' + i.ttl;
  if (src && src.prober) what += ' (' + src.prober + ')';
  return what + ', ' + from;
}

// leaseCell shows when a lease runs out, counting down (see tick).
function leaseCell(i, src) {
  const deadline = (src && src.lease_deadline) || i.lease_expires;
  if (!deadline) return '';
  const expired = src ? !!src.expired : i.health === 'critical';
  return el('span', { class: 'countdown', 'data-deadline': deadline, 'data-expired': expired, 'data-held': src && src.held }, '');
}

function probeCell(src) {
  const p = src && src.last_probe;
  if (!p) return '';
  return [
    healthBadge(p.status), ' ',
    el('span', { class: 'ago', 'data-since': p.time }, ''),
    p.latency ? ' in ' + seconds(p.latency) : '',
    p.output ? el('div', { class: 'output mono' }, p.output) : '',
  ];
}

// recordsBlock shows the records each name of the service answers now, as
// dig prints them, one block per question.
function recordsBlock(records) {
  if (!records.length) return el('p', { class: 'empty' }, 'No name of this service has records now.');
  const groups = new Map();
  for (const r of records) {
    const q = r.question || (r.name + ' ' + r.type);
    if (!groups.has(q)) groups.set(q, []);
    groups.get(q).push(r);
  }
  return el('div', { id: 'records' }, [...groups].map(([q, rs]) => {
    const answer = rs.filter((r) => r.section !== 'additional').map((r) => r.rr);
    const extra = rs.filter((r) => r.section === 'additional').map((r) => r.rr);
    const lines = [';; QUESTION: ' + q, ...answer];
    if (extra.length) lines.push(';; ADDITIONAL', ...extra);
    return el('pre', { class: 'dig', 'data-question': q }, lines.join('\n'));
  }));
}

function eventsSection(service) {
  return el('section', { id: 'events-section' },
    el('h2', {}, service ? 'Recent events of ' + service : 'Recent events'),
    el('p', { id: 'missed', class: 'note', hidden: !state.missed }, 'Some events were no longer kept by the server and are not shown.'),
    el('ol', { id: 'events', 'data-service': service }));
}

function renderEvents() {
  const list = document.getElementById('events');
  if (!list) return;
  const service = list.dataset.service;
  const evs = state.events.filter((e) => !service || !e.service || e.service === service).slice(-100).reverse();
  list.replaceChildren(...evs.map(eventItem));
  if (!evs.length) list.append(el('li', { class: 'empty' }, 'No event yet.'));
  document.getElementById('missed').hidden = !state.missed;
}

function eventItem(e) {
  const t = new Date(e.time);
  const subject = e.service
    ? el('a', { href: serviceHref(e.service) }, e.service + (e.instance ? '/' + e.instance : ''))
    : '';
  return el('li', { 'data-index': e.index, 'data-type': e.type, 'data-service': e.service, 'data-instance': e.instance },
    el('time', { datetime: e.time, title: e.time }, t.toLocaleTimeString()), ' ',
    el('span', { class: 'index' }, '#' + e.index), ' ',
    el('span', { class: 'type ' + e.type }, e.type), ' ',
    subject, ' ',
    e.health ? healthBadge(e.health) : '', ' ',
    e.reason ? el('span', { class: 'reason' }, e.reason) : '');
}

// tick updates the countdowns and ages once a second, on the server's clock.
function tick() {
  const now = Date.now() + state.skew;
  for (const span of document.querySelectorAll('[data-deadline]')) {
    const left = (Date.parse(span.dataset.deadline) - now) / 1000;
    if (span.dataset.held === '') span.textContent = 'held by self-preservation';
    else if (left >= 0 && span.dataset.expired !== '') span.textContent = 'runs out in ' + Math.ceil(left) + 's';
    else span.textContent = 'ran out ' + Math.max(0, Math.floor(-left)) + 's ago';
    span.dataset.left = String(Math.ceil(left));
  }
  for (const span of document.querySelectorAll('[data-since]')) {
    span.textContent = Math.max(0, Math.round((now - Date.parse(span.dataset.since)) / 1000)) + 's ago';
  }
}

// ---- start ----

async function start() {
  try {
    const s = await getJSON('/ui/session');
    state.tokenRequired = s.token_required;
    if (s.token_required && !s.signed_in) {
      // A bearer token in the browser is none of our business: the
      // session cookie is the only credential the page uses.
      showLogin();
      return;
    }
    document.getElementById('logout').hidden = !s.token_required;
    await refresh();
    if (!document.getElementById('login').hidden) return;
    connect();
  } catch (e) {
    handleError(e);
    setTimeout(start, 3000);
  }
}

document.getElementById('login').addEventListener('submit', login);
document.getElementById('logout').addEventListener('click', logout);
window.addEventListener('hashchange', () => { state.allDirty = true; render(); refresh(); });
setInterval(tick, 1000);
setInterval(() => { if (route().page === 'service' && state.source) schedule(); }, pollService);
start();
