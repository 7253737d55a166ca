// kupala dashboard: a live positions blotter, portfolio totals, a net P&L
// chart and a trade ticket over the WebSocket protocol of design.md.
// Plain JavaScript, no build step, no dependencies.
//
// Sections: 1 formatting · 2 connection (reconnect, auth) · 3 subscriptions
// (snapshot, delta, seq gaps) · 4 blotter · 5 portfolios · 6 chart ·
// 7 ticket · 8 activity log · 9 start.
//
// Decimals arrive as strings and are shown from the strings; they are turned
// into Numbers only for display rounding, colours and the chart.

(function () {
  'use strict';

  const $ = (sel) => document.querySelector(sel);

  // ---------------------------------------------------------------- 1 format

  /** -1, 0 or 1 for a decimal string (exact: no Number involved). */
  function sign(s) {
    if (s === null || s === undefined || s === '') return 0;
    const t = String(s);
    if (/^-?0*(\.0*)?$/.test(t)) return 0;
    return t.startsWith('-') ? -1 : 1;
  }

  /** Groups the integer part of an exact decimal string: "-12345.5" → "-12,345.5". */
  function grouped(s) {
    const m = /^(-?)(\d+)(\.\d+)?$/.exec(String(s));
    if (!m) return String(s);
    return m[1] + m[2].replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (m[3] || '');
  }

  const moneyFmt = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const priceFmt = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 4 });

  function money(s) {
    if (s === null || s === undefined) return '—';
    const n = Number(s);
    return Number.isFinite(n) ? moneyFmt.format(n) : String(s);
  }

  function price(s) {
    if (s === null || s === undefined) return '—';
    const n = Number(s);
    return Number.isFinite(n) ? priceFmt.format(n) : String(s);
  }

  function compact(n) {
    const a = Math.abs(n);
    if (a >= 1e9) return (n / 1e9).toFixed(2) + 'B';
    if (a >= 1e6) return (n / 1e6).toFixed(2) + 'M';
    if (a >= 1e4) return (n / 1e3).toFixed(1) + 'k';
    return n.toFixed(a >= 100 ? 0 : 2);
  }

  function clock(t) {
    return new Date(t).toLocaleTimeString('en-GB', { hour12: false });
  }

  // Column → how it is shown and whether it is coloured by sign.
  const POSITION_FIELDS = [
    ['account', String, false],
    ['strategy', (v) => (v === null || v === undefined ? '' : String(v)), false],
    ['instrument', String, false],
    ['currency', String, false],
    ['qty', grouped, true],
    ['avg_cost', price, false],
    ['mark', price, false],
    ['market_value', money, false],
    ['unrealized_pnl', money, true],
    ['realized_pnl', money, true],
    ['fees', money, false],
    ['net_pnl', money, true],
    ['day_pnl', money, true],
    ['net_pnl_base', money, true],
  ];

  const PORTFOLIO_FIELDS = [
    ['net_pnl', 'Net P&L', true],
    ['day_pnl', 'Day P&L', true],
    ['unrealized_pnl', 'Unrealized', true],
    ['realized_pnl', 'Realized', true],
    ['fees', 'Fees', false],
    ['market_value', 'Market value', false],
  ];

  /** Sets a cell's text, value, sign colour, and flashes it when it changed. */
  function setCell(el, raw, show, signed, flash) {
    const value = raw === null || raw === undefined ? '' : String(raw);
    const old = el.dataset.value;
    if (old === value && el.textContent !== '') return false;
    el.dataset.value = value;
    el.textContent = show(raw);
    if (signed) {
      const s = sign(raw);
      el.classList.toggle('pos', s > 0);
      el.classList.toggle('neg', s < 0);
    }
    if (flash && old !== undefined && old !== value) flashCell(el, Number(value) >= Number(old));
    return true;
  }

  // A changed cell is highlighted for FLASH_MS, then one shared timer clears
  // every expired highlight: two repaints per change, where a CSS or Web
  // Animations fade repaints every frame (costly in software rendering).
  const FLASH_MS = 700;
  const flashing = new Map(); // element → time its highlight ends
  let flashTimer = null;

  function flashCell(el, up) {
    el.classList.toggle('flash-up', up);
    el.classList.toggle('flash-down', !up);
    flashing.set(el, Date.now() + FLASH_MS);
    if (flashTimer === null) flashTimer = setTimeout(clearFlashes, FLASH_MS);
  }

  function clearFlashes() {
    const now = Date.now();
    let next = Infinity;
    for (const [el, until] of flashing) {
      if (until <= now) {
        el.classList.remove('flash-up', 'flash-down');
        flashing.delete(el);
      } else {
        next = Math.min(next, until);
      }
    }
    flashTimer = flashing.size ? setTimeout(clearFlashes, Math.max(50, next - now)) : null;
  }

  // ------------------------------------------------------------ 2 connection

  const conn = {
    ws: null,
    attempt: 0,
    timer: null,
    nextId: 1,
    pending: new Map(), // request id → { kind, ... }
    manualToken: false,
    stopped: false,
    updates: 0,
  };

  function wsUrl() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return scheme + '//' + location.host + '/ws';
  }

  function setStatus(state, text) {
    const el = $('#status');
    el.dataset.state = state;
    el.textContent = text;
    document.body.dataset.connection = state;
  }

  function send(msg) {
    if (!conn.ws || conn.ws.readyState !== WebSocket.OPEN) return false;
    conn.ws.send(JSON.stringify(msg));
    return true;
  }

  function request(msg, info) {
    const id = conn.nextId++;
    conn.pending.set(id, info);
    if (!send(Object.assign({ id }, msg))) {
      conn.pending.delete(id);
      return null;
    }
    return id;
  }

  function connect() {
    clearTimeout(conn.timer);
    conn.stopped = false;
    if (conn.ws) {
      conn.ws.onclose = null;
      conn.ws.close();
    }
    setStatus(conn.attempt ? 'reconnecting' : 'connecting', conn.attempt ? 'reconnecting…' : 'connecting…');
    let ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch (e) {
      scheduleReconnect('cannot open: ' + e.message);
      return;
    }
    conn.ws = ws;
    ws.onopen = () => {
      setStatus('syncing', 'connected, waiting for snapshot…');
      log('info', 'connected to ' + wsUrl());
      const token = $('#token').value.trim();
      if (token) request({ op: 'auth', token }, { kind: 'auth' });
      subscribeAll();
    };
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (e) {
        log('error', 'unreadable message from server');
        return;
      }
      onMessage(msg);
    };
    ws.onerror = () => {}; // onclose follows and says what to do
    ws.onclose = (ev) => {
      conn.ws = null;
      for (const [id, info] of conn.pending) {
        if (info.kind === 'submit') ticketResult('error', 'connection lost before an answer (id ' + id + '); check the blotter before resending');
      }
      conn.pending.clear();
      historySubs.clear();
      subs.positions.ready = subs.portfolio.ready = false;
      const why = ev.reason ? ev.reason : 'code ' + ev.code;
      if (conn.stopped) {
        setStatus('unauthorized', 'not authorized: enter a token and press Connect');
        return;
      }
      scheduleReconnect(why);
    };
  }

  /** Exponential backoff: 0.5 s doubling to 15 s, ±20 % jitter. */
  function scheduleReconnect(why) {
    const base = Math.min(15000, 500 * Math.pow(2, conn.attempt));
    const delay = Math.round(base * (0.8 + 0.4 * Math.random()));
    conn.attempt += 1;
    log('warn', 'disconnected (' + why + '); retry ' + conn.attempt + ' in ' + (delay / 1000).toFixed(1) + ' s');
    const until = Date.now() + delay;
    const tick = () => {
      const left = Math.max(0, until - Date.now());
      setStatus('reconnecting', 'offline · retry in ' + Math.ceil(left / 1000) + ' s');
      if (left > 0) conn.timer = setTimeout(tick, Math.min(left, 1000));
      else connect();
    };
    tick();
  }

  // --------------------------------------------------------- 3 subscriptions

  const subs = {
    positions: { id: null, seq: 0, ready: false },
    portfolio: { id: null, seq: 0, ready: false },
  };

  function subscribe(channel) {
    const s = subs[channel];
    s.ready = false;
    // batch: the changes taken together arrive as one `deltas` message.
    s.id = request({ op: 'subscribe', channel, account: '*', batch: true }, { kind: 'subscribe', channel });
  }

  function subscribeAll() {
    subscribe('positions');
    subscribe('portfolio');
  }

  /** A seq gap: drop the subscription and ask for a fresh snapshot. */
  function resubscribe(channel, why) {
    log('warn', channel + ': ' + why + '; resubscribing for a fresh snapshot');
    const s = subs[channel];
    s.ready = false;
    request({ op: 'unsubscribe', channel, account: '*' }, { kind: 'unsubscribe', channel });
    subscribe(channel);
  }

  function onMessage(msg) {
    conn.updates += 1;
    const info = msg.id !== undefined ? conn.pending.get(msg.id) : undefined;
    if (info && msg.type !== 'delta' && msg.type !== 'deltas') conn.pending.delete(msg.id);
    switch (msg.type) {
      case 'snapshot': return onSnapshot(msg, info);
      case 'delta':
      case 'deltas': return onDelta(msg);
      case 'ack': return info && info.kind === 'submit' ? onAck(msg, info) : undefined;
      case 'result': return onResult(msg, info);
      case 'error': return onError(msg, info);
      default: return undefined;
    }
  }

  function onResult(msg, info) {
    if (!info) return;
    if (info.kind === 'auth') log('info', 'authenticated');
    else if (info.kind === 'feeds') applyStale((msg.data && msg.data.stale) || []);
    else if (info.kind === 'history') historyLoaded(info.account, (msg.data && msg.data.points) || []);
  }

  // Instruments whose market data is stale (the refresher keeps failing):
  // asked every few seconds, shown in the header and on their rows.
  let stale = new Set();

  function applyStale(list) {
    const next = new Set(list);
    for (const name of next) if (!stale.has(name)) log('warn', name + ': market data stale');
    for (const name of stale) if (!next.has(name)) log('ok', name + ': market data fresh again');
    stale = next;
    const el = $('#stale');
    el.hidden = stale.size === 0;
    el.textContent = 'stale: ' + [...stale].sort().join(', ');
    for (const row of rows.values()) markStale(row);
  }

  function markStale(row) {
    const isStale = !!row.view && stale.has(row.view.instrument);
    row.tr.classList.toggle('stale', isStale);
    if (isStale) row.tr.title = 'market data stale: the refresher cannot fetch this instrument';
  }

  function onSnapshot(msg, info) {
    if (msg.channel === 'history') return historySnapshot(msg, info);
    const s = subs[msg.channel];
    if (!s || msg.id !== s.id) return;
    s.seq = msg.seq;
    s.ready = true;
    const rows = Array.isArray(msg.data) ? msg.data : [];
    if (msg.channel === 'positions') replacePositions(rows);
    else replacePortfolios(rows);
    if (subs.positions.ready && subs.portfolio.ready) {
      conn.attempt = 0;
      setStatus('live', 'live');
      subscribeHistories();
    }
    log('info', msg.channel + ' snapshot: ' + rows.length + ' rows at seq ' + msg.seq);
  }

  function onDelta(msg) {
    if (msg.channel === 'history') return historyDelta(msg);
    const s = subs[msg.channel];
    if (!s || !s.ready) return;
    if (msg.seq <= s.seq) return; // a repeat
    if (msg.seq !== s.seq + 1) {
      resubscribe(msg.channel, 'seq gap (' + s.seq + ' → ' + msg.seq + ')');
      return;
    }
    s.seq = msg.seq;
    const items = Array.isArray(msg.data) ? msg.data : [msg.data];
    for (const item of items) {
      if (!item) continue;
      if (msg.channel === 'positions') queue(pendingRows, keyOf(item), item);
      else queue(pendingCards, item.account, item);
    }
  }

  function onError(msg, info) {
    const text = msg.code + ': ' + msg.message;
    if (info && info.kind === 'submit') {
      ticketResult('error', 'Rejected — ' + text);
      log('error', 'submit ' + msg.id + ' rejected: ' + text);
      return;
    }
    if (info && info.kind === 'history') historySubs.delete(info.account);
    if (info && (info.kind === 'unsubscribe' || info.kind === 'feeds')) return; // nothing to do
    log('error', (info ? info.kind + ': ' : '') + text);
    if (msg.code === 'unauthorized') {
      conn.stopped = true;
      setStatus('unauthorized', 'not authorized: enter a token and press Connect');
      if (conn.ws) conn.ws.close();
    } else if (info && info.kind === 'subscribe') {
      setStatus('error', info.channel + ': ' + text);
    }
  }

  // -------------------------------------------------------------- 4 blotter

  const rows = new Map(); // "account|instrument" → { tr, cells, view }
  // Deltas wait here, conflated by key (the latest wins), and are applied
  // together at most every FLUSH_MS: a blotter need not repaint per tick.
  const FLUSH_MS = 200;
  const pendingRows = new Map();
  const pendingCards = new Map();
  let flushTimer = null;
  const tbody = () => $('#positions tbody');

  // A position is one book's holding: "account|instrument" in the
  // account's default book, "account|instrument|strategy" in a
  // strategy's (so the default book's row sorts first).
  function keyOf(p) {
    const key = p.account + '|' + p.instrument;
    return p.strategy === null || p.strategy === undefined ? key : key + '|' + p.strategy;
  }

  function queue(pending, key, item) {
    pending.set(key, item);
    if (flushTimer === null) flushTimer = setTimeout(flush, FLUSH_MS);
  }

  function flush() {
    flushTimer = null;
    if (pendingRows.size) {
      for (const p of pendingRows.values()) upsertPosition(p, true);
      pendingRows.clear();
      afterPositions();
    }
    for (const p of pendingCards.values()) upsertPortfolio(p, true);
    pendingCards.clear();
  }

  function replacePositions(list) {
    pendingRows.clear();
    const keep = new Set(list.map(keyOf));
    for (const [key, row] of rows) {
      if (!keep.has(key)) {
        row.tr.remove();
        rows.delete(key);
      }
    }
    for (const p of list) upsertPosition(p, true);
    afterPositions();
  }

  function upsertPosition(p, flash) {
    const key = keyOf(p);
    let row = rows.get(key);
    if (!row) {
      row = createRow(key);
      flash = false;
    }
    row.view = p;
    for (const [field, show, signed] of POSITION_FIELDS) {
      const label = field === 'account' || field === 'strategy' || field === 'instrument';
      setCell(row.cells[field], p[field], show, signed, flash && !label);
    }
    row.tr.classList.toggle('flat', sign(p.qty) === 0);
    row.tr.classList.toggle('short', sign(p.qty) < 0);
    row.tr.classList.toggle('unpriced', !!p.unpriced);
    row.tr.title = p.unpriced ? 'no FX rate to the base currency yet' : '';
    markStale(row);
    applyFilter(row);
  }

  function createRow(key) {
    const tr = document.createElement('tr');
    tr.dataset.key = key;
    const cells = {};
    for (const [field, , signed] of POSITION_FIELDS) {
      const td = document.createElement('td');
      td.dataset.field = field;
      if (!['account', 'strategy', 'instrument', 'currency'].includes(field)) td.className = 'num';
      if (signed) td.classList.add('signed');
      tr.appendChild(td);
      cells[field] = td;
    }
    tr.addEventListener('click', () => fillTicket(rows.get(key)));
    const body = tbody();
    let before = null;
    for (const el of body.children) {
      if (el.dataset.key > key) {
        before = el;
        break;
      }
    }
    body.insertBefore(tr, before);
    const row = { tr, cells, view: null };
    rows.set(key, row);
    return row;
  }

  function applyFilter(row) {
    const account = $('#filter-account').value;
    const text = $('#filter-text').value.trim().toUpperCase();
    const v = row.view || {};
    const hide = (account && v.account !== account) || (text && !String(v.instrument).toUpperCase().includes(text));
    row.tr.hidden = !!hide;
  }

  function afterPositions() {
    const accounts = new Set();
    for (const row of rows.values()) accounts.add(row.view.account);
    syncFilterAccounts(accounts);
    $('#position-count').textContent = '(' + rows.size + ')';
    $('#positions').dataset.rows = String(rows.size);
    $('#feed-info').textContent = conn.updates + ' msgs · seq ' + subs.positions.seq;
  }

  function syncFilterAccounts(accounts) {
    const sel = $('#filter-account');
    if (sel.options.length === accounts.size + 1) return;
    const current = sel.value;
    sel.replaceChildren(new Option('all', ''), ...[...accounts].sort().map((a) => new Option(a, a)));
    sel.value = current;
  }

  function refilter() {
    for (const row of rows.values()) applyFilter(row);
  }

  // ----------------------------------------------------------- 5 portfolios

  const cards = new Map(); // account → { el, fields, view }

  function replacePortfolios(list) {
    pendingCards.clear();
    const keep = new Set(list.map((p) => p.account));
    for (const [account, card] of cards) {
      if (!keep.has(account)) {
        card.el.remove();
        cards.delete(account);
      }
    }
    for (const p of list) upsertPortfolio(p, false);
    scheduleChart();
  }

  function upsertPortfolio(p, flash) {
    let card = cards.get(p.account);
    if (!card) {
      card = createCard(p.account);
      if (subs.portfolio.ready) subscribeHistories();
    }
    card.view = p;
    card.ccy.textContent = p.base_currency;
    for (const [field, , signed] of PORTFOLIO_FIELDS) {
      setCell(card.fields[field], p[field], money, signed, flash);
    }
    card.unpriced.textContent = p.unpriced > 0 ? p.unpriced + ' unpriced' : '';
  }

  function createCard(account) {
    const box = $('#portfolios');
    const empty = box.querySelector('.empty');
    if (empty) empty.remove();
    const el = document.createElement('article');
    el.className = 'card';
    el.dataset.account = account;
    el.style.setProperty('--account-colour', colourOf(account));
    const head = document.createElement('h3');
    head.textContent = account + ' ';
    const ccy = document.createElement('small');
    head.appendChild(ccy);
    const unpriced = document.createElement('span');
    unpriced.className = 'unpriced-count';
    head.appendChild(unpriced);
    el.appendChild(head);
    const dl = document.createElement('dl');
    const fields = {};
    for (const [field, label] of PORTFOLIO_FIELDS) {
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      dd.dataset.field = field;
      dd.className = 'num' + (field === 'net_pnl' ? ' headline' : '');
      dl.append(dt, dd);
      fields[field] = dd;
    }
    el.appendChild(dl);
    el.addEventListener('click', () => {
      $('#filter-account').value = $('#filter-account').value === account ? '' : account;
      refilter();
    });
    let before = null;
    for (const c of box.children) {
      if (c.dataset.account > account) {
        before = c;
        break;
      }
    }
    box.insertBefore(el, before);
    const card = { el, fields, ccy, unpriced, view: null };
    cards.set(account, card);
    return card;
  }

  // ---------------------------------------------------------------- 6 chart
  //
  // The chart draws the server's P&L history (docs/pnl.md, "P&L history"):
  // each account's series is subscribed to on the `history` channel
  // (docs/protocol.md, "The history channel") from its newest point drawn
  // (the window's start at first): the snapshot brings the stored points,
  // then each new point arrives as it is made, so a reload or a server
  // restart redraws what the server stored. Points are in event time, one
  // per bucket in which the account's net P&L changed; a line holds its
  // last value until the next point.

  const CHART_WINDOW_MS = 10 * 60 * 1000;
  const PALETTE = ['#4cc9f0', '#f72585', '#ffd166', '#06d6a0', '#b388ff', '#ff8c42', '#90be6d', '#e5e5e5'];
  const series = new Map(); // account → [[t, value], ...], by time
  const historySubs = new Map(); // account → { id, seq, ready }: its history subscription
  const colours = new Map();
  let chartScheduled = false;

  function colourOf(account) {
    if (!colours.has(account)) colours.set(account, PALETTE[colours.size % PALETTE.length]);
    return colours.get(account);
  }

  /**
   * Subscribes to an account's history from its newest point drawn: a
   * fresh subscription replaces the one before (after a seq gap too).
   */
  function subscribeHistory(account) {
    const s = series.get(account);
    const since = s && s.length ? s[s.length - 1][0] : Date.now() - CHART_WINDOW_MS;
    const from = new Date(since).toISOString();
    const msg = { op: 'subscribe', channel: 'history', account, from, batch: true };
    const id = request(msg, { kind: 'history', account });
    if (id !== null) historySubs.set(account, { id, seq: 0, ready: false });
  }

  /** Subscribes to the history of each shown account not yet subscribed. */
  function subscribeHistories() {
    if (!subs.portfolio.ready) return;
    for (const account of cards.keys()) if (!historySubs.has(account)) subscribeHistory(account);
  }

  function historySnapshot(msg, info) {
    const account = info && info.kind === 'history' ? info.account : null;
    const h = account === null ? undefined : historySubs.get(account);
    if (!h || h.id !== msg.id) return; // replaced meanwhile
    h.seq = msg.seq;
    h.ready = true;
    historyLoaded(account, (msg.data && msg.data.points) || []);
  }

  function historyDelta(msg) {
    for (const [account, h] of historySubs) {
      if (h.id !== msg.id) continue;
      if (!h.ready || msg.seq <= h.seq) return; // a repeat
      if (msg.seq !== h.seq + 1) {
        log('warn', account + ' history: seq gap (' + h.seq + ' → ' + msg.seq + '); resubscribing from the last point');
        subscribeHistory(account);
        return;
      }
      h.seq = msg.seq;
      historyLoaded(account, Array.isArray(msg.data) ? msg.data : [msg.data]);
      return;
    }
  }

  /** Points of a snapshot or of deltas: those newer than the line's last are added. */
  function historyLoaded(account, points) {
    let s = series.get(account);
    if (!s) series.set(account, (s = []));
    for (const p of points) {
      if (!p) continue;
      const t = Date.parse(p.ts);
      const v = Number(p.net_pnl);
      if (!Number.isFinite(t) || !Number.isFinite(v)) continue;
      const last = s[s.length - 1];
      if (!last || last[0] < t) s.push([t, v]);
    }
    const newest = s.length ? s[s.length - 1][0] : 0;
    while (s.length > 2 && s[1][0] < newest - CHART_WINDOW_MS) s.shift();
    scheduleChart();
  }

  function scheduleChart() {
    if (chartScheduled) return;
    chartScheduled = true;
    setTimeout(drawChart, 0);
  }

  const SVG = 'http://www.w3.org/2000/svg';
  function svgEl(name, attrs, text) {
    const el = document.createElementNS(SVG, name);
    for (const k in attrs) el.setAttribute(k, attrs[k]);
    if (text !== undefined) el.textContent = text;
    return el;
  }

  /** About five round tick values covering [lo, hi]. */
  function niceTicks(lo, hi) {
    const span = hi - lo || 1;
    const raw = span / 5;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= 6) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step / 1e6; v += step) out.push(v);
    return out;
  }

  function drawChart() {
    chartScheduled = false;
    const svg = $('#chart');
    const width = Math.max(300, svg.clientWidth || 600);
    const height = Math.max(160, svg.clientHeight || 220);
    const pad = { l: 64, r: 12, t: 10, b: 22 };
    svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
    // The axis ends now, or at the newest point when the history is of
    // another time (a replayed file's event time).
    let newest = -Infinity;
    for (const s of series.values()) if (s.length) newest = Math.max(newest, s[s.length - 1][0]);
    const wall = Date.now();
    const now = newest > wall || newest < wall - CHART_WINDOW_MS ? (Number.isFinite(newest) ? newest : wall) : wall;
    let t0 = now;
    let lo = 0;
    let hi = 0;
    for (const s of series.values()) {
      for (const [t, v] of s) {
        if (t < now - CHART_WINDOW_MS) continue;
        if (t < t0) t0 = t;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    t0 = Math.max(t0, now - CHART_WINDOW_MS);
    if (now - t0 < 30000) t0 = now - 30000;
    const margin = (hi - lo || Math.abs(hi) || 1) * 0.08;
    lo -= margin;
    hi += margin;
    const x = (t) => pad.l + ((t - t0) / (now - t0)) * (width - pad.l - pad.r);
    const y = (v) => pad.t + ((hi - v) / (hi - lo)) * (height - pad.t - pad.b);
    const parts = [];
    for (const v of niceTicks(lo, hi)) {
      parts.push(svgEl('line', { x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v), class: v === 0 ? 'zero' : 'grid' }));
      parts.push(svgEl('text', { x: pad.l - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, compact(v)));
    }
    const minutes = (now - t0) / 60000;
    const stepMs = (minutes > 5 ? 120 : minutes > 2 ? 60 : 15) * 1000;
    for (let t = Math.ceil(t0 / stepMs) * stepMs; t <= now; t += stepMs) {
      parts.push(svgEl('text', { x: x(t), y: height - 6, class: 'axis', 'text-anchor': 'middle' }, clock(t).slice(0, 5 + (stepMs < 60000 ? 3 : 0))));
    }
    const legend = [];
    for (const [account, s] of [...series.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      if (!s.length) continue;
      const pts = s.map(([t, v]) => x(Math.max(t, t0)).toFixed(1) + ',' + y(v).toFixed(1));
      const lastV = s[s.length - 1][1];
      pts.push(x(now).toFixed(1) + ',' + y(lastV).toFixed(1)); // hold the last value to now
      parts.push(svgEl('polyline', { points: pts.join(' '), class: 'line', stroke: colourOf(account), 'data-account': account }));
      legend.push([account, lastV]);
    }
    svg.replaceChildren(...parts);
    $('#chart-window').textContent = '(last ' + Math.max(1, Math.round(minutes)) + ' min)';
    $('#chart-legend').replaceChildren(
      ...legend.map(([account, v]) => {
        const span = document.createElement('span');
        span.className = 'legend ' + (v > 0 ? 'pos' : v < 0 ? 'neg' : '');
        span.style.setProperty('--account-colour', colourOf(account));
        span.textContent = account + ' ' + moneyFmt.format(v);
        return span;
      }),
    );
  }

  // --------------------------------------------------------------- 7 ticket

  const DECIMAL = /^\d+(\.\d{1,9})?$/;
  let ticketCounter = 0;

  function ticketResult(state, text) {
    const el = $('#ticket-result');
    el.dataset.state = state;
    el.textContent = text;
    if (state !== 'pending') $('#ticket-submit').disabled = false;
  }

  function fillTicket(row) {
    if (!row || !row.view) return;
    $('#ticket-account').value = row.view.account;
    $('#ticket-instrument').value = row.view.instrument;
    $('#ticket-price').value = row.view.mark;
    $('#ticket-qty').focus();
  }

  /** The latest mark of an instrument from any row that holds it. */
  function markOf(instrument) {
    for (const row of rows.values()) {
      if (row.view && row.view.instrument === instrument) return row.view.mark;
    }
    return null;
  }

  function submitTicket(ev) {
    ev.preventDefault();
    const f = (id) => $('#ticket-' + id).value.trim();
    const trade = {
      type: 'trade',
      id: 'ui-' + Date.now().toString(36) + '-' + ++ticketCounter,
      ts: new Date().toISOString(),
      account: f('account'),
      instrument: f('instrument'),
      side: f('side'),
      qty: f('qty'),
      price: f('price'),
    };
    const fee = f('fee');
    if (fee) trade.fee = fee;
    const problem = !trade.account ? 'account is required'
      : !trade.instrument ? 'instrument is required'
      : !DECIMAL.test(trade.qty) || sign(trade.qty) <= 0 ? 'quantity must be a positive decimal such as 100'
      : !DECIMAL.test(trade.price) ? 'price must be a decimal such as 189.50'
      : fee && !DECIMAL.test(fee) ? 'fee must be a decimal such as 1.00'
      : null;
    if (problem) {
      ticketResult('error', 'Not sent — ' + problem);
      return;
    }
    const what = trade.side.toUpperCase() + ' ' + trade.qty + ' ' + trade.instrument + ' @ ' + trade.price + ' for ' + trade.account;
    const id = request({ op: 'submit', events: [trade] }, { kind: 'submit', what, trade });
    if (id === null) {
      ticketResult('error', 'Not sent — not connected');
      return;
    }
    ticketResult('pending', 'Sending ' + what + '…');
    $('#ticket-submit').disabled = true;
    setTimeout(() => {
      $('#ticket-submit').disabled = false;
      if (conn.pending.has(id)) ticketResult('pending', 'No answer yet for ' + what + ' (id ' + id + ')…');
    }, 5000);
  }

  function onAck(msg, info) {
    const seqs = Array.isArray(msg.seq) ? msg.seq : [msg.seq];
    if (seqs.length && seqs.every((s) => s === null)) {
      ticketResult('ack', 'Acknowledged as a repeat (trade id already seen): ' + info.what);
    } else {
      ticketResult('ack', 'Acknowledged ✓ ' + info.what + ' · seq ' + seqs.join(', '));
    }
    log('ok', 'trade ' + info.trade.id + ' durable at seq ' + seqs.join(', ') + ': ' + info.what);
  }

  // ---------------------------------------------------------- 8 activity log

  function log(level, text) {
    const list = $('#log');
    const li = document.createElement('li');
    li.className = level;
    const time = document.createElement('time');
    time.textContent = clock(Date.now());
    li.append(time, ' ' + text);
    list.prepend(li);
    while (list.children.length > 60) list.lastElementChild.remove();
  }

  // ---------------------------------------------------------------- 9 start

  function start() {
    const params = new URLSearchParams(location.search);
    const token = params.get('token') || sessionStorage.getItem('kupala.token') || '';
    $('#token').value = token;
    $('#auth').addEventListener('submit', (ev) => {
      ev.preventDefault();
      sessionStorage.setItem('kupala.token', $('#token').value.trim());
      conn.attempt = 0;
      connect();
    });
    $('#ticket').addEventListener('submit', submitTicket);
    $('#ticket-instrument').addEventListener('change', () => {
      const mark = markOf($('#ticket-instrument').value.trim());
      if (mark !== null && !$('#ticket-price').value) $('#ticket-price').value = mark;
    });
    $('#filter-account').addEventListener('change', refilter);
    $('#filter-text').addEventListener('input', refilter);
    window.addEventListener('resize', scheduleChart);
    // The chart is redrawn once a second (its time axis moves even when
    // nothing changes), and when points arrive.
    setInterval(() => {
      scheduleChart();
      $('#feed-info').textContent = conn.updates + ' msgs · seq ' + subs.positions.seq;
    }, 1000);
    setInterval(() => request({ op: 'query', what: 'feeds' }, { kind: 'feeds' }), 5000);
    connect();
  }

  // A small read-only window for tests and curious users.
  window.kupala = {
    rows: () => [...rows.values()].map((r) => r.view),
    portfolios: () => [...cards.values()].map((c) => c.view),
    history: () => Object.fromEntries([...series.entries()].map(([a, s]) => [a, s.map((p) => p.slice())])),
    subscriptions: () => JSON.parse(JSON.stringify(Object.assign({ history: Object.fromEntries(historySubs) }, subs))),
    stale: () => [...stale],
    reconnect: () => connect(),
  };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
