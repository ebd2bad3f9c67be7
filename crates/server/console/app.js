// The userstream console: one page over the admin API and its live feed
// (GET /admin/v1/console/stream, Server-Sent Events). Plain DOM, no framework, no build step;
// everything is created with createElement/textContent (never innerHTML), so the page runs
// under the console's strict Content-Security-Policy.
'use strict';

(() => {
  const MAX_EVENTS = 2000; // kept in memory for filters and fill marks
  const MAX_ROWS = 400; // rendered in the log
  const MAX_POINTS = 3000; // price points kept per symbol
  const FAULT_HELP = {
    terminate: 'End the targeted subscriptions now with eventStreamTerminated.',
    drop: 'Close the targeted sockets without a close frame; clients reconnect.',
    mute: 'The targeted connections neither write nor read for durationMs.',
    shutdown: 'serverShutdown now, close 1001 after durationMs.',
    failTokenRequests: 'The next count token requests (anyone\'s) fail with status, code and msg.',
    delay: 'Hold back every outgoing batch of the targeted connections by durationMs (0 stops it).',
  };
  const FAULT_FIELDS = {
    mute: ['durationMs'], shutdown: ['durationMs'], delay: ['durationMs'],
    failTokenRequests: ['count', 'status', 'code', 'msg'],
  };

  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  // el('td', {class: 'x', testid: 'y', data: {id: 1}}, 'text', childNode, ...)
  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'testid') node.dataset.testid = v;
      else if (k === 'data') Object.assign(node.dataset, v);
      else if (k === 'on') for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
      else node.setAttribute(k, v === true ? '' : v);
    }
    for (const kid of kids.flat()) {
      if (kid === undefined || kid === null || kid === false) continue;
      node.append(kid instanceof Node ? kid : String(kid));
    }
    return node;
  }

  const svgNS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, text) {
    const node = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'testid') node.dataset.testid = v;
      else node.setAttribute(k, v);
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const state = {
    skewMs: 0, // server clock minus ours
    seeds: new Map(), // symbol -> {t, p}: the price when the feed said hello
    simulator: false,
    symbols: [], // [{symbol, price, tickSize}]
    prices: new Map(), // symbol -> [{t, p}]
    events: [], // oldest first
    openRows: new Set(), // positions of the log rows showing their JSON
    types: new Set(),
    sessions: [],
    faults: Object.keys(FAULT_HELP),
    account: null, // {uid, iso}
    scenarios: [],
    runs: new Map(), // run -> {name, state, lines}
    currentRun: null,
  };
  const serverNow = () => Date.now() + state.skewMs;

  // ---- admin API ----------------------------------------------------------------------------

  async function api(method, path, body) {
    const init = { method, credentials: 'same-origin', headers: {} };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const res = await fetch(path, init);
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = { error: text.slice(0, 300) }; }
    if (res.status === 401) setTimeout(() => location.reload(), 1500); // back to the login page
    if (!res.ok) throw new Error((data && data.error) || `HTTP ${res.status}`);
    return data;
  }

  // A form's submit runs `handler(form, submitter)`; its answer (a string) goes to `.ok`, a thrown
  // error's message (the API's `error`) to `.err`, both next to the form.
  function bindForm(form, handler) {
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const err = $('.err', form);
      const ok = $('.ok', form);
      err.textContent = '';
      if (ok) ok.textContent = '';
      const buttons = $$('button', form);
      buttons.forEach((b) => { b.disabled = true; });
      try {
        const message = await handler(form, e.submitter);
        if (ok && message) ok.textContent = message;
      } catch (x) {
        err.textContent = x.message;
      } finally {
        buttons.forEach((b) => { b.disabled = false; });
      }
    });
  }

  const val = (form, name) => form.elements[name].value.trim();

  function needAccount() {
    if (!state.account) throw new Error('choose an account first (uid at the top)');
    return state.account;
  }

  function accountBody(extra) {
    const a = needAccount();
    const body = { uid: a.uid };
    if (a.iso) body.isolatedSymbol = a.iso;
    return Object.assign(body, extra);
  }

  // ---- formatting ---------------------------------------------------------------------------

  const pad = (n, w = 2) => String(n).padStart(w, '0');
  function clock(ms) {
    const d = new Date(ms);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }
  function duration(ms) {
    if (ms <= 0) return 'expired';
    const s = Math.floor(ms / 1000);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
    return `${Math.floor(s / 3600)}h ${pad(Math.floor(s / 60) % 60)}m ${pad(s % 60)}s`;
  }
  const accountName = (iso) => (iso ? `isolated:${iso}` : 'cross');
  function bytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1048576) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1048576).toFixed(1)} MiB`;
  }

  function summary(type, ev) {
    switch (type) {
      case 'executionReport': {
        const last = ev.x === 'TRADE' ? ` · ${ev.l} @ ${ev.L}` : '';
        return `${ev.s} ${ev.S} ${ev.o} ${ev.x}/${ev.X} #${ev.i} qty ${ev.q} price ${ev.p}${last}`;
      }
      case 'outboundAccountPosition':
        return (ev.B || []).map((b) => `${b.a} ${b.f}/${b.l}`).join('  ');
      case 'balanceUpdate':
        return `${ev.a} ${ev.d}`;
      case 'listStatus':
        return `${ev.s} list ${ev.g} ${ev.l}/${ev.L}`;
      case 'USER_LIABILITY_CHANGE':
        return `${ev.a} ${ev.t} principal ${ev.p} interest ${ev.i}`;
      case 'MARGIN_LEVEL_STATUS_CHANGE':
        return `marginLevel ${ev.l} ${ev.s}`;
      default: {
        const text = JSON.stringify(ev);
        return text.length > 140 ? `${text.slice(0, 140)}…` : text;
      }
    }
  }

  // ---- header and account choice -------------------------------------------------------------

  function setStream(text, cls) {
    const badge = $('#stream-state');
    badge.textContent = text;
    badge.className = `badge ${cls || ''}`;
    badge.dataset.state = text;
  }

  function fillSymbolSelects() {
    const names = state.symbols.map((s) => s.symbol);
    for (const sel of $$('select[name=symbol], #chart-symbol')) {
      const keep = sel.value;
      sel.replaceChildren(...names.map((n) => el('option', { value: n }, n)));
      sel.value = names.includes(keep) ? keep : names[0] || '';
    }
    const iso = $('#acct-iso');
    const keep = iso.value;
    iso.replaceChildren(el('option', { value: '' }, 'cross'), ...names.map((n) => el('option', { value: n }, n)));
    iso.value = keep;
  }

  function chooseAccount(uid, iso) {
    if (uid !== undefined) $('#acct-uid').value = uid;
    if (iso !== undefined) $('#acct-iso').value = iso || '';
    const text = $('#acct-uid').value.trim();
    state.account = /^\d+$/.test(text) ? { uid: Number(text), iso: $('#acct-iso').value || null } : null;
    const who = state.account ? `uid ${state.account.uid} · ${accountName(state.account.iso)}` : 'none chosen';
    $('#acct-title').textContent = who;
    $$('[data-role=who]').forEach((n) => { n.textContent = state.account ? `(${who})` : ''; });
    refreshAccount();
    renderEvents();
    drawChart();
  }

  // ---- connections ----------------------------------------------------------------------------

  function renderSessions() {
    const now = serverNow();
    const body = $('#conn-body');
    body.replaceChildren(...state.sessions.map((s) => {
      const subs = (s.subscriptions || []).map((sub) => {
        const expMs = sub.expirationTime / 1000;
        return el('span', {
          class: 'sub', testid: 'subscription', title: `subscription ${sub.subscriptionId}: choose this account`,
          data: { uid: sub.uid, exp: expMs },
          on: { click: () => chooseAccount(sub.uid, sub.isolatedSymbol) },
        }, `${sub.uid} · ${accountName(sub.isolatedSymbol)} · `, el('b', { class: 'countdown' }, duration(expMs - now)));
      });
      return el('tr', { testid: 'connection', data: { sessionId: s.id } },
        el('td', {}, String(s.id)),
        el('td', { class: 'mono' }, s.peer),
        el('td', {}, s.format || s.timeUnit || ''),
        el('td', { data: { since: s.connectedSince } }, duration(now - s.connectedSince)),
        el('td', {}, subs.length ? subs : el('span', { class: 'dim' }, 'none')),
        el('td', { class: s.queuedBytes > 0 ? 'warnText' : '' }, bytes(s.queuedBytes || 0)),
        el('td', {}, el('button', {
          type: 'button', class: 'ghost small', testid: 'connection-target', title: 'aim the fault form at this session',
          on: { click: () => targetSession(s.id) },
        }, 'fault…')));
    }));
    const total = state.sessionsTotal ?? state.sessions.length;
    $('#conn-count').textContent = total > state.sessions.length
      ? `${state.sessions.length} of ${total}` : String(total);
    $('#conn-empty').hidden = state.sessions.length > 0;
  }

  // Between two changes of the sessions the clocks still move, on the server's time.
  function tickCountdowns() {
    const now = serverNow();
    for (const td of $$('#conn-body td[data-since]')) td.textContent = duration(now - Number(td.dataset.since));
    for (const sub of $$('#conn-body .sub')) {
      const left = Number(sub.dataset.exp) - now;
      const b = $('.countdown', sub);
      b.textContent = duration(left);
      sub.classList.toggle('soon', left < 60000);
    }
  }

  // ---- event log --------------------------------------------------------------------------------

  function eventFilter() {
    const text = $('#ev-uid').value.trim().toUpperCase();
    const type = $('#ev-type').value;
    const mine = $('#ev-mine').checked ? state.account : null;
    let uid = null;
    let iso;
    if (text) {
      const [u, s] = text.split(':');
      uid = u;
      if (s !== undefined) iso = s === 'CROSS' || s === '' ? null : s;
    }
    const keep = (item) => {
      if (type && item.type !== type) return false;
      if (uid !== null && String(item.uid) !== uid) return false;
      if (iso !== undefined && (item.isolatedSymbol || null) !== iso) return false;
      if (mine && (item.uid !== mine.uid || (item.isolatedSymbol || null) !== mine.iso)) return false;
      return true;
    };
    keep.all = !type && uid === null && !mine; // nothing filtered out
    return keep;
  }

  function eventRow(item) {
    const ev = item.event || {};
    const li = el('li', {
      class: `ev t-${item.type}`, testid: 'event-row',
      data: { position: item.position, type: item.type, uid: item.uid, account: accountName(item.isolatedSymbol) },
      title: 'click for the raw JSON',
    },
    el('span', { class: 'time' }, clock(item.atMs)),
    el('span', { class: 'who' }, `${item.uid} ${accountName(item.isolatedSymbol)}`),
    el('span', { class: 'type', title: item.type }, item.type),
    el('span', { class: 'sum' }, summary(item.type, ev)));
    const show = () => li.append(el('pre', { class: 'json', testid: 'event-json' }, JSON.stringify(item, null, 2)));
    li.addEventListener('click', (e) => {
      if (e.target.closest('pre')) return; // let the JSON be selected
      const open = $('pre', li);
      if (open) { open.remove(); state.openRows.delete(item.position); return; }
      state.openRows.add(item.position);
      show();
    });
    if (state.openRows.has(item.position)) show();
    return li;
  }

  function renderEvents() {
    const keep = eventFilter();
    const rows = [];
    for (let i = state.events.length - 1; i >= 0 && rows.length < MAX_ROWS; i -= 1) {
      if (keep(state.events[i])) rows.push(eventRow(state.events[i]));
    }
    $('#ev-list').replaceChildren(...rows);
    countEvents(keep);
  }

  // "12", or "3 of 12" while a filter hides some.
  function countEvents(keep) {
    const shown = keep.all ? state.events.length : state.events.filter(keep).length;
    $('#ev-count').textContent = shown === state.events.length
      ? String(shown) : `${shown} of ${state.events.length}`;
  }

  function addType(type) {
    if (state.types.has(type)) return;
    state.types.add(type);
    const sel = $('#ev-type');
    const keep = sel.value;
    sel.replaceChildren(el('option', { value: '' }, 'every type'),
      ...[...state.types].sort().map((t) => el('option', { value: t }, t)));
    sel.value = keep;
  }

  let accountTimer = null;
  function onEvent(item, live) {
    state.events.push(item);
    if (state.events.length > MAX_EVENTS) state.events.splice(0, state.events.length - MAX_EVENTS);
    addType(item.type);
    if (!live) return; // the backlog is rendered once, when it ends
    const list = $('#ev-list');
    const keep = eventFilter();
    if (keep(item)) {
      list.prepend(eventRow(item));
      while (list.children.length > MAX_ROWS) list.lastChild.remove();
    }
    countEvents(keep);
    const a = state.account;
    if (a && item.uid === a.uid && (item.isolatedSymbol || null) === a.iso) {
      if (item.type === 'executionReport' && item.event && item.event.x === 'TRADE') drawChart();
      clearTimeout(accountTimer);
      accountTimer = setTimeout(refreshAccount, 150);
    }
  }

  // ---- price chart ------------------------------------------------------------------------------

  function addPrice(p) {
    let series = state.prices.get(p.symbol);
    if (!series) { series = []; state.prices.set(p.symbol, series); }
    series.push({ t: p.atMs, p: Number(p.price), text: p.price });
    if (series.length > MAX_POINTS) series.splice(0, series.length - MAX_POINTS);
    const sym = state.symbols.find((s) => s.symbol === p.symbol);
    if (sym) sym.price = p.price;
  }

  function fillsFor(symbol) {
    const a = state.account;
    if (!a) return [];
    return state.events.filter((it) => it.type === 'executionReport' && it.uid === a.uid
      && (it.isolatedSymbol || null) === a.iso && it.event && it.event.x === 'TRADE' && it.event.s === symbol)
      .map((it) => ({ t: Number(it.event.T), p: Number(it.event.L), side: it.event.S, ev: it.event }));
  }

  let chartQueued = false;
  function drawChart() {
    if (chartQueued) return;
    chartQueued = true;
    requestAnimationFrame(() => { chartQueued = false; drawChartNow(); });
  }

  function drawChartNow() {
    const box = $('#chart');
    const symbol = $('#chart-symbol').value;
    const info = state.symbols.find((s) => s.symbol === symbol);
    $('#chart-price').textContent = info && info.price ? info.price : '';
    const W = Math.max(320, box.clientWidth || 640);
    const H = 280;
    const m = { l: 70, r: 14, t: 12, b: 26 };
    const now = serverNow();
    const points = (state.prices.get(symbol) || []).slice();
    // Without a backlog before it, the line starts at the price the hello gave.
    const seed = state.seeds.get(symbol);
    if (seed && (!points.length || points[0].t > seed.t)) points.unshift(seed);
    const fills = fillsFor(symbol);
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'chart-svg', role: 'img', 'aria-label': `${symbol} price` });
    if (!points.length && !fills.length) {
      root.append(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'axis' }, 'no price yet'));
      box.replaceChildren(root);
      return;
    }
    const ts = points.map((q) => q.t).concat(fills.map((f) => f.t));
    const ps = points.map((q) => q.p).concat(fills.map((f) => f.p));
    const t1 = Math.max(now, ...ts);
    const t0 = Math.min(...ts, t1 - 10000); // at least 10 s wide
    let lo = Math.min(...ps);
    let hi = Math.max(...ps);
    const padY = (hi - lo) * 0.1 || Math.abs(hi) * 0.002 || 1;
    lo -= padY; hi += padY;
    const x = (t) => m.l + ((t - t0) / (t1 - t0)) * (W - m.l - m.r);
    const y = (p) => m.t + (1 - (p - lo) / (hi - lo)) * (H - m.t - m.b);
    const decimals = info && info.tickSize ? Math.max(0, (info.tickSize.split('.')[1] || '').replace(/0+$/, '').length) : 2;
    for (let i = 0; i <= 4; i += 1) {
      const p = lo + ((hi - lo) * i) / 4;
      root.append(svg('line', { x1: m.l, x2: W - m.r, y1: y(p), y2: y(p), class: 'grid' }));
      root.append(svg('text', { x: m.l - 6, y: y(p) + 4, 'text-anchor': 'end', class: 'axis' }, p.toFixed(decimals)));
    }
    for (let i = 0; i <= 4; i += 1) {
      const t = t0 + ((t1 - t0) * i) / 4;
      root.append(svg('text', { x: x(t), y: H - 8, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle', class: 'axis' }, clock(t).slice(0, 8)));
    }
    // A step line: a price holds until the next change, and up to now.
    let d = `M${x(points[0].t).toFixed(1)},${y(points[0].p).toFixed(1)}`;
    for (let i = 1; i < points.length; i += 1) d += `H${x(points[i].t).toFixed(1)}V${y(points[i].p).toFixed(1)}`;
    d += `H${x(t1).toFixed(1)}`;
    root.append(svg('path', { d, class: 'line', testid: 'chart-line' }));
    for (const f of fills) {
      const side = f.side === 'SELL' ? 'sell' : 'buy';
      const dot = svg('circle', { cx: x(f.t).toFixed(1), cy: y(f.p).toFixed(1), r: 6, class: `fill ${side}`, testid: 'chart-fill' });
      dot.dataset.side = f.side;
      dot.dataset.orderId = f.ev.i;
      dot.append(svg('title', {}, `${f.side} ${f.ev.l} @ ${f.ev.L} (order ${f.ev.i}) ${clock(f.t)}`));
      root.append(dot);
    }
    box.replaceChildren(root);
  }

  // ---- account: balances and open orders --------------------------------------------------------

  async function refreshAccount() {
    const a = state.account;
    const err = $('#acct-err');
    if (!a || !state.simulator) {
      const hint = a ? 'the simulator is off: no balances or orders here'
        : 'choose an account: a uid at the top, or click a subscription or a key\'s uid';
      $('#bal-body').replaceChildren(el('tr', {}, el('td', { colspan: 5, class: 'dim' }, hint)));
      $('#ord-body').replaceChildren();
      err.textContent = '';
      return;
    }
    const q = a.iso ? `?isolatedSymbol=${encodeURIComponent(a.iso)}` : '';
    const oq = `?uid=${a.uid}${a.iso ? `&isolatedSymbol=${encodeURIComponent(a.iso)}` : ''}`;
    try {
      const [acct, orders] = await Promise.all([api('GET', `/admin/v1/accounts/${a.uid}${q}`), api('GET', `/admin/v1/orders${oq}`)]);
      if (state.account !== a) return; // chosen again meanwhile
      err.textContent = '';
      renderBalances(acct);
      renderOrders(orders || []);
    } catch (x) {
      err.textContent = x.message;
    }
  }

  function renderBalances(acct) {
    const rows = [];
    const add = (b) => {
      const zero = ['free', 'locked', 'borrowed', 'netAsset'].every((k) => !Number(b[k]));
      if (zero) return;
      rows.push(el('tr', { testid: 'balance', data: { asset: b.asset } },
        el('td', {}, b.asset), el('td', {}, b.free), el('td', {}, b.locked),
        el('td', {}, b.borrowed), el('td', {}, b.netAsset)));
    };
    let level = '';
    if (Array.isArray(acct.userAssets)) {
      acct.userAssets.forEach(add);
      level = acct.marginLevel;
    } else if (Array.isArray(acct.assets)) {
      for (const pair of acct.assets) { add(pair.baseAsset); add(pair.quoteAsset); level = pair.marginLevel; }
    }
    if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 5, class: 'dim' }, 'nothing held or owed')));
    $('#bal-body').replaceChildren(...rows);
    $('#acct-level').textContent = level ? `margin level ${level}` : '';
  }

  function renderOrders(orders) {
    const rows = orders.map((o) => el('tr', { testid: 'open-order', data: { orderId: o.orderId, symbol: o.symbol } },
      el('td', {}, String(o.orderId)), el('td', {}, o.symbol),
      el('td', { class: o.side === 'BUY' ? 'buyText' : 'sellText' }, o.side), el('td', {}, o.type),
      el('td', {}, o.price), el('td', {}, o.origQty), el('td', {}, o.executedQty),
      el('td', { class: 'nowrap' },
        el('button', { type: 'button', class: 'small', testid: 'open-order-fill', on: { click: () => orderAction('fill', o) } }, 'fill'),
        el('button', { type: 'button', class: 'small warn', testid: 'open-order-cancel', on: { click: () => orderAction('cancel', o) } }, 'cancel'))));
    if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 8, class: 'dim' }, 'no open order')));
    $('#ord-body').replaceChildren(...rows);
  }

  // A row's buttons go through the fill form, so its answer or error shows in one place.
  function orderAction(action, order) {
    const form = $('#f-fill');
    form.elements.symbol.value = order.symbol;
    form.elements.orderId.value = order.orderId;
    form.requestSubmit($(`[data-testid=order-${action}]`, form));
  }

  // ---- forms --------------------------------------------------------------------------------------

  async function refreshKeys() {
    const keys = await api('GET', '/admin/v1/keys');
    const rows = keys.slice(-50).reverse().map((k) => el('tr', { testid: 'key', class: k.revoked ? 'revoked' : '', data: { apiKey: k.apiKey, uid: k.uid } },
      el('td', {}, el('a', { href: '#', on: { click: (e) => { e.preventDefault(); chooseAccount(k.uid, ''); } } }, String(k.uid))),
      el('td', { class: 'mono', title: k.apiKey }, `${k.apiKey.slice(0, 8)}…`),
      el('td', {}, k.label || ''),
      el('td', {}, (k.isolatedSymbols || []).join(' ')),
      el('td', {}, k.revoked ? 'revoked' : el('button', {
        type: 'button', class: 'small warn', testid: 'key-row-revoke',
        on: { click: () => { const f = $('#f-keys'); f.elements.apiKey.value = k.apiKey; f.requestSubmit(); } },
      }, 'revoke'))));
    $('#keys-body').replaceChildren(...rows);
  }

  function copyable(label, value, testid) {
    return el('div', { class: 'kv' }, el('span', { class: 'dim' }, label),
      el('code', { testid, title: 'click to copy', on: { click: () => navigator.clipboard && navigator.clipboard.writeText(value).catch(() => {}) } }, value));
  }

  function setupForms() {
    bindForm($('#f-key'), async (f) => {
      const body = {};
      if (val(f, 'uid')) body.uid = Number(val(f, 'uid'));
      if (val(f, 'label')) body.label = val(f, 'label');
      const iso = val(f, 'isolated').split(/[\s,]+/).filter(Boolean);
      if (iso.length) body.isolatedSymbols = iso;
      const key = await api('POST', '/admin/v1/keys', body);
      $('#key-result').replaceChildren(
        copyable('uid', String(key.uid), 'key-result-uid'),
        copyable('apiKey', key.apiKey, 'key-result-api'),
        copyable('secretKey', key.secretKey, 'key-result-secret'),
        el('p', { class: 'dim small' }, 'The secret is shown this once.'));
      chooseAccount(key.uid, '');
      refreshKeys().catch(() => {});
      return '';
    });

    bindForm($('#f-keys'), async (f) => {
      const key = val(f, 'apiKey');
      if (!key) throw new Error('give the API key to revoke');
      const answer = await api('DELETE', `/admin/v1/keys/${encodeURIComponent(key)}`);
      await refreshKeys();
      return `revoked; ${answer.terminatedSubscriptions} subscription(s) ended`;
    });
    $('#keys-refresh').addEventListener('click', () => refreshKeys().catch((x) => { $('#f-keys .err').textContent = x.message; }));

    bindForm($('#f-order'), async (f) => {
      const body = accountBody({ symbol: val(f, 'symbol'), side: val(f, 'side'), type: val(f, 'type') });
      for (const k of ['quantity', 'price', 'stopPrice']) if (val(f, k)) body[k] = val(f, k);
      if (['LIMIT', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT_LIMIT'].includes(body.type)) body.timeInForce = 'GTC';
      const o = await api('POST', '/admin/v1/orders', body);
      const fill = $('#f-fill');
      fill.elements.symbol.value = o.symbol;
      fill.elements.orderId.value = o.orderId;
      refreshAccount();
      const result = $('[data-testid=order-result]', f);
      result.dataset.orderId = o.orderId;
      return `order ${o.orderId}: ${o.status}, filled ${o.executedQty} of ${o.origQty}`;
    });

    bindForm($('#f-fill'), async (f, submitter) => {
      const action = submitter && submitter.value === 'cancel' ? 'cancel' : 'fill';
      if (!val(f, 'orderId')) throw new Error('give the orderId (or use a row of open orders)');
      const body = accountBody({ symbol: val(f, 'symbol'), orderId: Number(val(f, 'orderId')) });
      if (action === 'fill') for (const k of ['price', 'quantity']) if (val(f, k)) body[k] = val(f, k);
      const o = await api('POST', `/admin/v1/orders/${action}`, body);
      refreshAccount();
      return `order ${o.orderId}: ${o.status}, filled ${o.executedQty} of ${o.origQty}`;
    });

    bindForm($('#f-price'), async (f) => {
      const answer = await api('POST', '/admin/v1/prices', { symbol: val(f, 'symbol'), price: val(f, 'price') });
      return `${answer.symbol} at ${answer.price}; ${answer.events} event(s)`;
    });
    $('#f-price').elements.symbol.addEventListener('change', (e) => {
      const info = state.symbols.find((s) => s.symbol === e.target.value);
      $('#f-price').elements.price.value = info && info.price ? info.price : '';
    });

    bindForm($('#f-deposit'), async (f) => {
      const a = needAccount();
      const body = { asset: val(f, 'asset').toUpperCase(), amount: val(f, 'amount') };
      if (a.iso) body.isolatedSymbol = a.iso;
      const answer = await api('POST', `/admin/v1/accounts/${a.uid}/deposits`, body);
      refreshAccount();
      return `deposited; ${answer.events} event(s)`;
    });

    const faultForm = $('#f-fault');
    const syncFault = () => {
      const kind = faultForm.elements.kind.value;
      const fields = FAULT_FIELDS[kind] || [];
      for (const label of $$('label[data-for]', faultForm)) {
        const name = label.dataset.for;
        label.hidden = name === 'session' ? faultForm.elements.target.value !== 'session' : !fields.includes(name);
      }
      faultForm.elements.target.disabled = kind === 'failTokenRequests';
      $('#fault-help').textContent = FAULT_HELP[kind] || '';
    };
    faultForm.elements.kind.addEventListener('change', syncFault);
    faultForm.elements.target.addEventListener('change', syncFault);
    faultForm.syncFault = syncFault;
    bindForm(faultForm, async (f) => {
      const kind = val(f, 'kind');
      const body = { kind };
      if (kind !== 'failTokenRequests') {
        const target = val(f, 'target');
        if (target === 'account') Object.assign(body, accountBody({}));
        if (target === 'session') {
          if (!val(f, 'sessionId')) throw new Error('give the session id (or use a connection\'s fault… button)');
          body.sessionId = Number(val(f, 'sessionId'));
        }
      }
      for (const k of FAULT_FIELDS[kind] || []) {
        if (!val(f, k)) continue;
        body[k] = k === 'msg' ? val(f, k) : Number(val(f, k));
      }
      const answer = await api('POST', '/admin/v1/faults', body);
      return `${kind}: ${answer.sessions} session(s), ${answer.subscriptions} subscription(s)`;
    });

    bindForm($('#f-publish'), async (f) => {
      const text = val(f, 'body');
      if (!text) throw new Error('write an item: {"uid":N,"event":{…}}');
      const answer = await api('POST', '/admin/v1/events', text);
      return answer.subscribers !== undefined ? `published to ${answer.subscribers} subscription(s)` : JSON.stringify(answer);
    });
    $('#publish-sample').addEventListener('click', () => {
      const a = state.account || { uid: 1, iso: null };
      const item = { uid: a.uid };
      if (a.iso) item.isolatedSymbol = a.iso;
      item.event = { e: 'balanceUpdate', a: 'USDT', d: '1.00000000', T: Math.round(serverNow()) };
      $('#f-publish').elements.body.value = JSON.stringify(item, null, 1);
    });

    bindForm($('#f-scenario'), async (f) => {
      const name = val(f, 'name');
      if (!name) throw new Error('no scenario to run');
      const answer = await api('POST', '/admin/v1/scenarios/run', { name });
      if (!state.runs.has(answer.run)) state.runs.set(answer.run, { name, state: 'running', lines: [] });
      state.currentRun = answer.run;
      renderScenario();
      return '';
    });
    $('#sc-name').addEventListener('change', () => {
      const sc = state.scenarios.find((s) => s.name === $('#sc-name').value);
      $('#sc-desc').textContent = sc ? sc.description || '' : '';
    });

    $('#acct-uid').addEventListener('change', () => chooseAccount());
    $('#acct-iso').addEventListener('change', () => chooseAccount());
    $('#acct-refresh').addEventListener('click', refreshAccount);
    $('#ev-uid').addEventListener('input', renderEvents);
    $('#ev-type').addEventListener('change', renderEvents);
    $('#ev-mine').addEventListener('change', renderEvents);
    $('#ev-clear').addEventListener('click', () => { state.events = []; renderEvents(); drawChart(); });
    $('#chart-symbol').addEventListener('change', drawChart);
    $('#logout').addEventListener('click', async () => {
      try { await api('POST', '/admin/v1/console/logout'); } catch { /* the page reloads anyway */ }
      location.href = '/';
    });
    window.addEventListener('resize', drawChart);
  }

  function targetSession(id) {
    const f = $('#f-fault');
    f.elements.target.value = 'session';
    f.elements.sessionId.value = id;
    f.syncFault();
    f.scrollIntoView({ behavior: 'smooth', block: 'center' });
  }

  // ---- scenarios ----------------------------------------------------------------------------------

  async function loadScenarios(available) {
    const form = $('#f-scenario');
    if (!available) {
      $('#sc-desc').textContent = 'This server runs no scenarios: they need the simulator.';
      $$('select, button', form).forEach((n) => { n.disabled = true; });
      return;
    }
    try {
      state.scenarios = (await api('GET', '/admin/v1/scenarios')) || [];
      const sel = $('#sc-name');
      sel.replaceChildren(...state.scenarios.map((s) => el('option', { value: s.name }, s.title || s.name)));
      sel.dispatchEvent(new Event('change'));
    } catch (x) {
      $('.err', form).textContent = x.message;
    }
  }

  function onScenario(item) {
    let run = state.runs.get(item.run);
    if (!run) { run = { name: item.name, state: 'running', lines: [] }; state.runs.set(item.run, run); }
    if (item.line !== null && item.line !== undefined) run.lines.push(item.line);
    if (run.lines.length > 2000) run.lines.splice(0, run.lines.length - 2000);
    run.state = item.state;
    if (state.currentRun === null || item.run > state.currentRun) state.currentRun = item.run;
    if (item.run === state.currentRun) renderScenario();
  }

  function renderScenario() {
    const run = state.runs.get(state.currentRun);
    const badge = $('#sc-state');
    if (!run) { badge.textContent = 'idle'; return; }
    badge.textContent = `${run.name} #${state.currentRun}: ${run.state}`;
    badge.dataset.state = run.state;
    badge.className = `badge ${run.state === 'passed' ? 'good' : run.state === 'failed' ? 'bad' : 'busy'}`;
    const pre = $('#sc-lines');
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = run.lines.join('\n');
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  }

  // ---- the live feed ----------------------------------------------------------------------------

  let source = null;
  let backlogDone = false;

  function onHello(h) {
    state.skewMs = h.serverTimeMs - Date.now();
    state.simulator = !!h.simulator;
    state.symbols = h.symbols || [];
    state.seeds = new Map(state.symbols.filter((s) => s.price !== null && s.price !== undefined)
      .map((s) => [s.symbol, { t: h.serverTimeMs, p: Number(s.price) }]));
    state.prices = new Map();
    state.events = []; // the backlog follows and replaces what we had
    state.openRows.clear();
    backlogDone = false;
    if (Array.isArray(h.faults) && h.faults.length) state.faults = h.faults;
    const kinds = $('#f-fault').elements.kind;
    const keep = kinds.value;
    kinds.replaceChildren(...state.faults.map((k) => el('option', { value: k }, k)));
    if (state.faults.includes(keep)) kinds.value = keep;
    $('#f-fault').syncFault();
    fillSymbolSelects();
    const order = $('#f-order').elements;
    if (!order.symbol.value) order.symbol.value = 'BTCUSDT';
    $('#f-price').elements.symbol.dispatchEvent(new Event('change'));
    $('#server-info').textContent = `simulator ${state.simulator ? 'on' : 'off'} · ${state.symbols.length} symbols · clock skew ${state.skewMs} ms`;
    loadScenarios(!!h.scenarios);
    refreshAccount();
    setTimeout(endBacklog, 500); // should no `sessions` item come first
  }

  // Backlog items come before the first `sessions` item; render them in one go then.
  function endBacklog() {
    if (backlogDone) return;
    backlogDone = true;
    renderEvents();
    drawChart();
  }

  function connect() {
    setStream('connecting', 'busy');
    source = new EventSource('/admin/v1/console/stream');
    const on = (name, fn) => source.addEventListener(name, (m) => {
      let data;
      try { data = JSON.parse(m.data); } catch { return; }
      fn(data);
    });
    source.addEventListener('open', () => setStream('live', 'good'));
    on('hello', onHello);
    on('event', (item) => onEvent(item, backlogDone));
    on('price', (p) => {
      addPrice(p);
      if (backlogDone && p.symbol === $('#chart-symbol').value) drawChart();
    });
    let lastSessions = '';
    on('sessions', (s) => {
      endBacklog();
      state.skewMs = s.serverTimeMs - Date.now();
      state.sessions = s.sessions || [];
      state.sessionsTotal = s.total;
      // Rebuilt only when something changed, so that a click on a row is not lost to a rebuild.
      const text = `${s.total} ${JSON.stringify(state.sessions)}`;
      if (text !== lastSessions) renderSessions();
      lastSessions = text;
      tickCountdowns();
    });
    on('scenario', onScenario);
    on('lagged', (l) => {
      $('#ev-list').prepend(el('li', { class: 'ev lagged', testid: 'event-lagged' }, `the console fell behind: ${l.missed} item(s) missed`));
    });
    source.addEventListener('error', () => {
      if (source.readyState !== EventSource.CLOSED) { setStream('reconnecting', 'bad'); return; }
      // Closed for good (an HTTP error): a 401 means the login expired; else try again soon.
      setStream('disconnected', 'bad');
      api('GET', '/admin/v1/sessions').then(() => setTimeout(connect, 3000), () => setTimeout(connect, 3000));
    });
  }

  document.addEventListener('DOMContentLoaded', () => {
    setupForms();
    fillSymbolSelects();
    const kinds = $('#f-fault').elements.kind;
    kinds.replaceChildren(...state.faults.map((k) => el('option', { value: k }, k)));
    $('#f-fault').syncFault();
    refreshKeys().catch(() => {});
    chooseAccount();
    connect();
    setInterval(() => { tickCountdowns(); drawChart(); }, 1000);
  });
})();
