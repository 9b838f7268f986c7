// edged web console: polls the gateway's local API every 2 s and renders
// its status, devices (latest values and 5-minute sparklines, actuator
// controls), a plot with time axes over 5 min, 1 h or 24 h (the daemon's
// downsampled history), alerts, services (with restart), the gateway's own
// resources, the plan, the dead letters (replay, drop) and a live log
// tail. Plain DOM, no dependencies;
// every value from the API goes in as text, never as markup.
'use strict';

(function () {
  const POLL_MS = 2000;
  const TIMEOUT_MS = 5000;
  const WINDOW_MS = 5 * 60 * 1000; // sparkline span
  const MAX_POINTS = 300; // per metric, in memory
  const TOKEN_KEY = 'edged.apiToken'; // in sessionStorage: this tab only, never in the page
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const SPARK_W = 120;
  const SPARK_H = 28;

  const $ = (sel, root) => (root || document).querySelector(sel);

  // el builds an element: el('td', {class: 'x', 'data-label': 'Device'}, child, 'text').
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const c of children) e.append(c);
    return e;
  }

  function setText(sel, text) {
    const e = typeof sel === 'string' ? $(sel) : sel;
    if (e && e.textContent !== text) e.textContent = text;
  }

  // ---- formatting ----

  function num(v) {
    if (typeof v !== 'number' || !isFinite(v)) return '–';
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    if (a >= 10000) return v.toFixed(0);
    if (a >= 100) return v.toFixed(1);
    if (a >= 1) return v.toFixed(2);
    return v.toPrecision(3);
  }

  function duration(s) {
    if (typeof s !== 'number' || !isFinite(s)) return '–';
    if (s < 10) return s.toFixed(1) + ' s';
    s = Math.round(s);
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' m ' + (s % 60) + ' s';
    if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' m';
    return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
  }

  function two(n) { return String(n).padStart(2, '0'); }

  // clock formats a time as HH:MM, or HH:MM:SS with seconds.
  function clock(t, seconds) {
    const d = new Date(t);
    return two(d.getHours()) + ':' + two(d.getMinutes()) + (seconds ? ':' + two(d.getSeconds()) : '');
  }

  // human formats a value with its unit: bytes as KiB/MiB/GiB, % with one decimal.
  function human(v, unit) {
    if (typeof v !== 'number' || !isFinite(v)) return '–';
    if (unit === 'B') {
      const units = ['B', 'KiB', 'MiB', 'GiB'];
      let i = 0;
      while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
      return (i === 0 || Math.abs(v) >= 100 ? String(Math.round(v)) : v.toFixed(1)) + ' ' + units[i];
    }
    if (unit === '%') return v.toFixed(1) + ' %';
    return num(v) + (unit ? ' ' + unit : '');
  }

  function mib(b) {
    return typeof b === 'number' ? (b / 1048576).toFixed(b < 10485760 ? 1 : 0) : '–';
  }

  function list(doc, key) {
    return doc && Array.isArray(doc[key]) ? doc[key] : [];
  }

  // ---- token ----

  let token = '';

  function storeToken(t) {
    token = t;
    try {
      if (t) sessionStorage.setItem(TOKEN_KEY, t);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* storage may be disabled: keep it for this page only */ }
    setText('#token-state', token ? 'token set' : 'no token');
  }

  function loadToken() {
    const params = new URLSearchParams(location.hash.slice(1));
    const fromHash = params.get('token');
    if (fromHash) {
      storeToken(fromHash);
      params.delete('token');
      const rest = params.toString();
      history.replaceState(null, '', location.pathname + location.search + (rest ? '#' + rest : ''));
      return;
    }
    let saved = '';
    try { saved = sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { /* see storeToken */ }
    storeToken(saved);
  }

  // refused holds the methods the API last answered 401: the token
  // message stays up until a request of that method gets through (GETs on
  // loopback need no token, commands do).
  const refused = new Set();

  function noteAuth(method, status, detail) {
    if (status === 401) {
      refused.add(method);
      setText('#auth-detail', detail ? '(' + detail + ')' : '');
    } else if (status < 400) {
      refused.delete(method);
    }
    $('#auth').hidden = refused.size === 0;
  }

  // ---- API ----

  // api fetches path (relative to the console) and resolves to
  // {status, ok, doc}; it rejects only when the daemon is unreachable.
  async function api(path, method, body) {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
    try {
      const res = await fetch(path, {
        method: method || 'GET', headers, cache: 'no-store', signal: ctl.signal,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      let doc = null;
      try { doc = await res.json(); } catch (e) { /* not JSON */ }
      noteAuth(method || 'GET', res.status, doc && doc.error);
      return { status: res.status, ok: res.ok, doc };
    } finally {
      clearTimeout(timer);
    }
  }

  function devicePath(name, rest) {
    return 'api/v1/devices/' + encodeURIComponent(name) + '/' + rest;
  }

  function newID() {
    const b = new Uint8Array(12);
    crypto.getRandomValues(b);
    return 'web-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  // ---- status header ----

  function renderStatus(s) {
    const name = s.gateway || 'edged';
    setText('#gateway', name);
    document.title = name + ' · edged console';

    const c = s.cloud || {};
    const cloud = $('#cloud');
    const state = c.enabled === false ? 'off' : c.connected ? 'up' : 'down';
    cloud.dataset.state = state;
    setText(cloud, 'cloud ' + state);
    cloud.title = [c.url, c.delivered != null ? c.delivered + ' delivered' : '', c.last_error]
      .filter(Boolean).join('\n');

    const o = s.outbox || {};
    let buf = (o.readings != null ? o.readings : '–') + ' readings';
    if (o.readings > 0 && o.oldest_age_s != null) buf += ' · oldest ' + duration(o.oldest_age_s);
    setText('#buffer', buf);
    const dropped = $('#dropped');
    dropped.hidden = !(o.dropped > 0);
    setText(dropped, o.dropped + ' dropped');
    const appendErrors = $('#append-errors');
    appendErrors.hidden = !(o.append_errors > 0);
    setText(appendErrors, o.append_errors + ' append errors');

    const p = s.plan || {};
    // "v2 · applied", or "v2 · v3 rolled_back" when the latest plan is not the one running.
    setText('#plan', 'v' + (p.version != null ? p.version : 0) + ' · ' +
      (p.latest ? 'v' + p.latest + ' ' : '') + (p.state || 'none'));
    $('#plan').title = p.error || p.last_error || '';
    setText('#version', [s.version, s.arch, s.board ? 'board ' + s.board : ''].filter(Boolean).join(' · ') || '–');
    setText('#uptime', duration(s.uptime_s));

    const m = s.local_mqtt || {};
    const sensors = Array.isArray(m.sensors) ? m.sensors.length : typeof m.sensors === 'number' ? m.sensors : 0;
    setText('#mqtt-mode', m.mode || 'off');
    setText('#mqtt-addr', m.addr || '–');
    setText('#mqtt-sensors', String(sensors));
  }

  // ---- devices ----

  // series holds, per device, the readings fetched so far for sparklines.
  const series = new Map(); // name -> {since, lastSeq, lastT, metrics: Map(metric -> [{t, v}])}

  function seriesFor(name) {
    let s = series.get(name);
    if (!s) {
      s = { since: '', lastSeq: 0, lastT: 0, metrics: new Map() };
      series.set(name, s);
    }
    return s;
  }

  function addReading(s, r) {
    const t = Date.parse(r.ts);
    if (!isFinite(t) || typeof r.value !== 'number') return;
    const seq = typeof r.seq === 'number' ? r.seq : 0;
    if (!(seq > s.lastSeq || t > s.lastT)) return; // already have it
    s.lastSeq = Math.max(s.lastSeq, seq);
    if (t >= s.lastT) { s.lastT = t; s.since = r.ts; }
    let pts = s.metrics.get(r.metric);
    if (!pts) { pts = []; s.metrics.set(r.metric, pts); }
    pts.push({ t, v: r.value });
    let drop = Math.max(0, pts.length - MAX_POINTS);
    while (drop < pts.length && pts[drop].t < t - WINDOW_MS) drop++;
    if (drop > 0) pts.splice(0, drop);
  }

  async function fetchReadings(devs) {
    await Promise.all(devs.map(async (d) => {
      const s = seriesFor(d.name);
      const q = s.since ? '?since=' + encodeURIComponent(s.since) : '';
      const r = await api(devicePath(d.name, 'readings') + q);
      if (r.ok) for (const rd of list(r.doc, 'readings')) addReading(s, rd);
    }));
    for (const name of series.keys()) {
      if (!devs.some((d) => d.name === name)) series.delete(name);
    }
  }

  function drawSpark(svg, pts) {
    const poly = svg.firstChild;
    const end = pts.length ? pts[pts.length - 1].t : 0; // the gateway's clock, not ours
    const vis = pts.filter((p) => p.t >= end - WINDOW_MS);
    svg.dataset.points = String(vis.length);
    if (vis.length < 2) { poly.setAttribute('points', ''); return; }
    let lo = Infinity, hi = -Infinity;
    for (const p of vis) { lo = Math.min(lo, p.v); hi = Math.max(hi, p.v); }
    const span = hi - lo || 1;
    const width = end - vis[0].t || 1; // up to 5 min: a young series fills the box
    const pad = 2;
    poly.setAttribute('points', vis.map((p) => {
      const x = SPARK_W - ((end - p.t) / width) * SPARK_W;
      const y = pad + (1 - (hi === lo ? 0.5 : (p.v - lo) / span)) * (SPARK_H - 2 * pad);
      return x.toFixed(1) + ',' + y.toFixed(1);
    }).join(' '));
    svg.lastChild.textContent = 'last ' + duration(width / 1000) + ': ' + num(lo) + ' … ' + num(hi);
  }

  function metricCell(metric) {
    const svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('data-metric', metric);
    svg.setAttribute('viewBox', '0 0 ' + SPARK_W + ' ' + SPARK_H);
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.append(document.createElementNS(SVG_NS, 'polyline'), document.createElementNS(SVG_NS, 'title'));
    return el('div', { class: 'metric', 'data-metric': metric },
      el('span', { class: 'mname' }, metric),
      el('span', { class: 'reading' },
        el('span', { class: 'value', 'data-metric': metric }, '–'), el('span', { class: 'unit' })),
      svg);
  }

  function setResult(res, ok, text) {
    res.className = 'result ' + ok;
    res.textContent = text;
    res.title = new Date().toLocaleTimeString();
  }

  async function sendCommand(tr, value) {
    const res = $('.result', tr);
    const buttons = tr.querySelectorAll('button');
    setResult(res, 'pending', 'sending…');
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const r = await api(devicePath(tr.dataset.device, 'commands'), 'POST', { id: newID(), action: 'set', value });
      if (r.doc && r.doc.ok) setResult(res, 'ok', 'ok');
      else if (r.status === 401) setResult(res, 'err', 'unauthorized: enter the API token below');
      else setResult(res, 'err', (r.doc && r.doc.error) || 'HTTP ' + r.status);
      refreshNow();
    } catch (e) {
      setResult(res, 'err', 'not sent: daemon unreachable');
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  // parseValue turns what was typed into a JSON value: number, boolean or string.
  function parseValue(text) {
    const t = text.trim();
    if (t === 'true' || t === 'false') return t === 'true';
    if (t !== '' && isFinite(Number(t))) return Number(t);
    return t;
  }

  function controlCell(d) {
    const td = el('td', { class: 'control', 'data-label': 'Control' });
    if (!d.actuator) { td.append(el('span', { class: 'muted' }, '—')); return td; }
    const res = el('span', { class: 'result', 'aria-live': 'polite' });
    if (d.kind === 'gpio-out') {
      const on = el('button', { type: 'button', 'data-command': 'on' }, 'On');
      const off = el('button', { type: 'button', 'data-command': 'off' }, 'Off');
      on.addEventListener('click', () => sendCommand(td.parentNode, 'on'));
      off.addEventListener('click', () => sendCommand(td.parentNode, 'off'));
      td.append(el('span', { class: 'buttons' }, on, off), res);
      return td;
    }
    const pwm = d.kind === 'pwm';
    const input = pwm
      ? el('input', { type: 'number', min: '0', max: '1', step: '0.05', inputmode: 'decimal', 'data-command-input': 'set', placeholder: '0..1', 'aria-label': 'duty 0..1' })
      : el('input', { type: 'text', 'data-command-input': 'set', placeholder: 'value', 'aria-label': 'value' });
    const form = el('form', { class: 'set', novalidate: '' }, input, el('button', { type: 'submit', 'data-command': 'set' }, 'Set'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const text = input.value.trim();
      if (text === '') { setResult(res, 'err', pwm ? 'enter a duty from 0 to 1' : 'enter a value'); return; }
      sendCommand(td.parentNode, pwm ? Number(text) : parseValue(text));
    });
    td.append(form, res);
    return td;
  }

  function deviceRow(d) {
    const tr = el('tr', { 'data-device': d.name, 'data-kind': d.kind || '' },
      el('td', { class: 'dev', 'data-label': 'Device' },
        el('span', { class: 'dot' }), el('span', { class: 'name' }, d.name), el('span', { class: 'kind' }, d.kind || '')),
      el('td', { class: 'metrics', 'data-label': 'Readings' }),
      el('td', { class: 'counts', 'data-label': 'Reads / errors' },
        el('span', { class: 'reads mono' }), ' / ', el('span', { class: 'errors mono' }),
        el('div', { class: 'last-error' })),
      controlCell(d));
    return tr;
  }

  function updateRow(tr, d) {
    const healthy = d.healthy !== false;
    tr.dataset.healthy = String(healthy);
    const dot = $('.dot', tr);
    dot.className = 'dot ' + (healthy ? 'ok' : 'bad');
    dot.title = healthy ? 'healthy' : 'unhealthy' + (d.last_error ? ': ' + d.last_error : '');
    setText($('.reads', tr), String(d.reads != null ? d.reads : '–'));
    const errors = $('.errors', tr);
    setText(errors, String(d.errors != null ? d.errors : '–'));
    errors.classList.toggle('warn', d.errors > 0);
    const le = $('.last-error', tr);
    setText(le, d.last_error || '');
    le.title = d.last_error || '';

    const s = seriesFor(d.name);
    const latest = new Map();
    for (const [m, pts] of s.metrics) if (pts.length) latest.set(m, { value: pts[pts.length - 1].v, unit: '' });
    for (const r of Array.isArray(d.last) ? d.last : []) latest.set(r.metric, r);
    const cell = $('.metrics', tr);
    if (latest.size === 0 && !cell.firstChild) cell.append(el('span', { class: 'muted none' }, 'no readings yet'));
    for (const [m, r] of latest) {
      let mc = cell.querySelector('.metric[data-metric="' + CSS.escape(m) + '"]');
      if (!mc) {
        const none = $('.none', cell);
        if (none) none.remove();
        mc = cell.appendChild(metricCell(m));
      }
      setText($('.value', mc), num(r.value));
      if (r.unit) setText($('.unit', mc), r.unit);
      drawSpark($('svg', mc), s.metrics.get(m) || []);
    }
  }

  function renderDevices(devs) {
    const body = $('#devices tbody');
    const rows = new Map();
    for (const tr of body.querySelectorAll('tr[data-device]')) rows.set(tr.dataset.device, tr);
    for (const tr of body.querySelectorAll('tr.empty')) tr.remove();
    devs.forEach((d, i) => {
      let tr = rows.get(d.name);
      if (tr && tr.dataset.kind !== (d.kind || '')) { tr.remove(); tr = null; }
      if (!tr) tr = deviceRow(d);
      rows.delete(d.name);
      if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null);
      updateRow(tr, d);
    });
    for (const tr of rows.values()) tr.remove();
    if (devs.length === 0) body.append(el('tr', { class: 'empty' }, el('td', { colspan: '4' }, 'no devices')));
  }

  // ---- services ----

  function renderServices(svcs) {
    const body = $('#services tbody');
    body.replaceChildren();
    if (svcs.length === 0) {
      body.append(el('tr', { class: 'empty' }, el('td', { colspan: '7' }, 'no services')));
      return;
    }
    for (const s of svcs) {
      const b = s.budget || {};
      const mem = el('td', { class: 'mem', 'data-label': 'Memory' });
      if (b.memory_bytes > 0) {
        const pct = Math.min(100, (100 * (s.rss_bytes || 0)) / b.memory_bytes);
        const fill = el('div', { class: 'fill' + (pct > 95 ? ' crit' : pct > 80 ? ' warn' : '') });
        fill.style.width = pct.toFixed(1) + '%';
        mem.append(el('div', { class: 'bar', title: pct.toFixed(0) + '% of the memory budget' }, fill),
          el('span', { class: 'mono' }, mib(s.rss_bytes) + ' / ' + mib(b.memory_bytes) + ' MiB'));
      } else {
        mem.append(el('span', { class: 'mono' }, mib(s.rss_bytes) + ' MiB'), el('span', { class: 'muted' }, ' no budget'));
      }
      const cpu = (typeof s.cpu_percent === 'number' ? s.cpu_percent.toFixed(1) + '%' : '–') +
        (b.cpu ? ' of ' + b.cpu + ' CPU' : '');
      body.append(el('tr', { 'data-service': s.name, 'data-state': s.state || '' },
        el('td', { class: 'name', 'data-label': 'Service' }, s.name,
          el('span', { class: 'kind' }, [s.pid ? 'pid ' + s.pid : '', s.enforcement].filter(Boolean).join(' · '))),
        el('td', { 'data-label': 'State' }, el('span', { class: 'state', 'data-state': s.state || '' }, s.state || '?')),
        el('td', { class: 'restarts mono', 'data-label': 'Restarts' }, String(s.restarts || 0)),
        mem,
        el('td', { class: 'cpu mono', 'data-label': 'CPU' }, cpu),
        el('td', { class: 'last-error', 'data-label': 'Last error', title: s.last_error || '' }, s.last_error || ''),
        serviceControl(s.name)));
    }
  }

  function serviceControl(name) {
    const res = svcResults.get(name);
    const b = el('button', { type: 'button', 'data-action': 'restart' }, 'Restart');
    b.disabled = !!res && res.cls === 'pending';
    b.addEventListener('click', () => restartService(name));
    return el('td', { class: 'control', 'data-label': 'Control' }, b,
      el('span', { class: 'result' + (res ? ' ' + res.cls : ''), 'aria-live': 'polite' }, res ? res.text : ''));
  }

  // ---- gateway resources ----

  // renderGateway shows the gateway's own readings (service_usage: each
  // service's memory and CPU) as resources, not as a device.
  function renderGateway(gws) {
    const box = $('#gateway-usage');
    const rows = [];
    for (const g of gws) for (const r of Array.isArray(g.last) ? g.last : []) rows.push(r);
    $('#gateway-section').hidden = rows.length === 0;
    box.replaceChildren(...rows.map((r) => el('div', { class: 'use', 'data-metric': r.metric },
      el('span', { class: 'mname' }, r.metric.replace(/_(memory_bytes|cpu_percent)$/, (m, k) => k === 'memory_bytes' ? ' memory' : ' CPU')),
      el('span', { class: 'value mono', 'data-metric': r.metric }, human(r.value, r.unit)))));
  }

  // ---- plot ----

  const CH = { w: 800, h: 220, l: 60, r: 12, t: 10, b: 24 };
  const chart = { device: '', metric: '', range: '5m', pts: [], unit: '', step: 1 };

  function seriesKey(d, m) { return d + '\u0000' + m; }

  // updateChartChoices lists every device's metrics in the plot's selector.
  function updateChartChoices(devs) {
    const sel = $('#chart-series');
    const want = [];
    for (const d of devs) {
      const ms = new Set((Array.isArray(d.last) ? d.last : []).map((r) => r.metric));
      const s = series.get(d.name);
      if (s) for (const m of s.metrics.keys()) ms.add(m);
      for (const m of [...ms].sort()) want.push([d.name, m]);
    }
    const keys = want.map(([d, m]) => seriesKey(d, m));
    const have = [...sel.options].map((o) => o.value);
    if (keys.join('\u0001') !== have.join('\u0001')) {
      sel.replaceChildren(...want.map(([d, m]) => {
        const o = el('option', { value: seriesKey(d, m) }, d + ' · ' + m);
        o.dataset.device = d;
        o.dataset.metric = m;
        return o;
      }));
    }
    if (!chart.device || !keys.includes(seriesKey(chart.device, chart.metric))) {
      if (want.length) selectChart(want[0][0], want[0][1], false);
      else { chart.device = ''; chart.metric = ''; chart.pts = []; drawChart(); }
    }
    sel.value = seriesKey(chart.device, chart.metric);
  }

  function selectChart(device, metric, refresh) {
    if (chart.device === device && chart.metric === metric) return;
    chart.device = device;
    chart.metric = metric;
    chart.pts = [];
    $('#chart-series').value = seriesKey(device, metric);
    drawChart();
    if (refresh) fetchChart().catch(() => {});
  }

  async function fetchChart() {
    if (!chart.device) return;
    const want = [chart.device, chart.metric, chart.range];
    const r = await api(devicePath(chart.device, 'history') + '?range=' + encodeURIComponent(chart.range) +
      '&metric=' + encodeURIComponent(chart.metric));
    if (want.join('\u0000') !== [chart.device, chart.metric, chart.range].join('\u0000')) return; // changed meanwhile
    const se = r.ok ? list(r.doc, 'series')[0] : null;
    chart.step = (r.doc && r.doc.step_s) || 1;
    chart.unit = (se && se.unit) || '';
    chart.pts = se ? list(se, 'points').map((p) => ({ t: Date.parse(p.ts), v: p.mean, lo: p.min, hi: p.max, n: p.count }))
      .filter((p) => isFinite(p.t)) : [];
    drawChart();
  }

  const RANGE_MS = { '5m': 300e3, '1h': 3600e3, '24h': 86400e3 };

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // niceTicks returns about n round values covering [lo, hi].
  function niceTicks(lo, hi, n) {
    const span = hi - lo || Math.abs(hi) || 1;
    const raw = span / n;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return out;
  }

  function drawChart() {
    const box = $('#chart');
    const pts = chart.pts;
    box.dataset.points = String(pts.length);
    box.dataset.range = chart.range;
    box.dataset.device = chart.device;
    box.dataset.metric = chart.metric;
    const span = RANGE_MS[chart.range];
    const end = pts.length ? pts[pts.length - 1].t + chart.step * 1000 : Date.now();
    const start = end - span;
    let lo = Infinity, hi = -Infinity;
    for (const p of pts) { lo = Math.min(lo, p.lo); hi = Math.max(hi, p.hi); }
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    if (lo === hi) { lo -= 0.5; hi += 0.5; }
    const pad = (hi - lo) * 0.08;
    lo -= pad; hi += pad;
    const x = (t) => CH.l + ((t - start) / span) * (CH.w - CH.l - CH.r);
    const y = (v) => CH.t + (1 - (v - lo) / (hi - lo)) * (CH.h - CH.t - CH.b);
    const g = [];
    for (const v of niceTicks(lo, hi, 4)) {
      g.push(svg('line', { class: 'grid-line', x1: CH.l, x2: CH.w - CH.r, y1: y(v), y2: y(v) }),
        svg('text', { class: 'tick y-tick', x: CH.l - 6, y: y(v) + 4, 'text-anchor': 'end' }, num(v)));
    }
    const tstep = { '5m': 60e3, '1h': 10 * 60e3, '24h': 4 * 3600e3 }[chart.range];
    for (let t = Math.ceil(start / tstep) * tstep; t <= end; t += tstep) {
      g.push(svg('line', { class: 'grid-line', x1: x(t), x2: x(t), y1: CH.t, y2: CH.h - CH.b }),
        svg('text', { class: 'tick x-tick', x: x(t), y: CH.h - 6, 'text-anchor': 'middle' }, clock(t, false)));
    }
    g.push(svg('line', { class: 'axis', x1: CH.l, x2: CH.l, y1: CH.t, y2: CH.h - CH.b }),
      svg('line', { class: 'axis', x1: CH.l, x2: CH.w - CH.r, y1: CH.h - CH.b, y2: CH.h - CH.b }));
    if (chart.unit) g.push(svg('text', { class: 'tick unit-label', x: 4, y: CH.t + 10 }, chart.unit));
    // Split the line where buckets are missing (no readings then).
    let seg = [], band = [];
    const flush = () => {
      if (seg.length) {
        g.push(svg('polygon', { class: 'band', points: band.map((p) => x(p.t).toFixed(1) + ',' + y(p.hi).toFixed(1)).concat(
          band.slice().reverse().map((p) => x(p.t).toFixed(1) + ',' + y(p.lo).toFixed(1))).join(' ') }));
        g.push(svg(seg.length > 1 ? 'polyline' : 'circle', seg.length > 1
          ? { class: 'line', points: seg.map((p) => x(p.t).toFixed(1) + ',' + y(p.v).toFixed(1)).join(' ') }
          : { class: 'line-dot', cx: x(seg[0].t), cy: y(seg[0].v), r: 2 }));
      }
      seg = []; band = [];
    };
    pts.forEach((p, i) => {
      if (i > 0 && p.t - pts[i - 1].t > 2.5 * chart.step * 1000) flush();
      seg.push(p); band.push(p);
    });
    flush();
    if (!pts.length) g.push(svg('text', { class: 'tick', x: CH.w / 2, y: CH.h / 2, 'text-anchor': 'middle' }, chart.device ? 'no readings in this range' : 'no devices'));
    const cursor = svg('line', { class: 'cursor', x1: 0, x2: 0, y1: CH.t, y2: CH.h - CH.b, visibility: 'hidden' });
    const dot = svg('circle', { class: 'cursor-dot', r: 3.5, visibility: 'hidden' });
    g.push(cursor, dot);
    box.replaceChildren(...g);
    chart.geom = { x, y, start, span };
  }

  // hover shows the bucket nearest the pointer: time, mean, min … max.
  function hover(ev) {
    const box = $('#chart');
    const pts = chart.pts;
    if (!pts.length || !chart.geom) return;
    const rect = box.getBoundingClientRect();
    const vx = ((ev.clientX - rect.left) / rect.width) * CH.w;
    const t = chart.geom.start + ((vx - CH.l) / (CH.w - CH.l - CH.r)) * chart.geom.span;
    let best = pts[0];
    for (const p of pts) if (Math.abs(p.t - t) < Math.abs(best.t - t)) best = p;
    const cursor = $('.cursor', box), dot = $('.cursor-dot', box);
    const px = chart.geom.x(best.t), py = chart.geom.y(best.v);
    cursor.setAttribute('x1', px); cursor.setAttribute('x2', px); cursor.setAttribute('visibility', 'visible');
    dot.setAttribute('cx', px); dot.setAttribute('cy', py); dot.setAttribute('visibility', 'visible');
    const u = chart.unit ? ' ' + chart.unit : '';
    setText('#chart-tip', clock(best.t, chart.range !== '24h') + ' · ' + num(best.v) + u +
      (best.n > 1 ? ' (' + num(best.lo) + ' … ' + num(best.hi) + ', ' + best.n + ' readings)' : ''));
    $('#chart-tip').dataset.ts = new Date(best.t).toISOString();
  }

  // ---- alerts ----

  function renderAlerts(alerts) {
    const body = $('#alerts tbody');
    if (!alerts.length) {
      body.replaceChildren(el('tr', { class: 'empty' }, el('td', { colspan: '5' }, 'no alerts')));
      return;
    }
    body.replaceChildren(...alerts.map((a) => {
      const cleared = a.kind === 'rules' && a.value === 0;
      const t = Date.parse(a.ts);
      return el('tr', { 'data-alert': a.device + '/' + a.metric, 'data-kind': a.kind || '', 'data-cleared': String(cleared) },
        el('td', { class: 'mono', 'data-label': 'Time', title: a.ts || '' }, isFinite(t) ? new Date(t).toLocaleString() : '–'),
        el('td', { 'data-label': 'Device' }, a.device || ''),
        el('td', { class: 'mono', 'data-label': 'Metric' }, a.metric || ''),
        el('td', { class: 'mono value', 'data-label': 'Value' }, cleared ? 'cleared' : num(a.value) + (a.unit ? ' ' + a.unit : '')),
        el('td', { 'data-label': 'Source' }, (a.source || '') + (a.kind ? ' (' + a.kind + ')' : '')));
    }));
  }

  // ---- plan ----

  function renderPlan(st, hist) {
    const off = st.status === 404;
    const p = st.ok ? st.doc || {} : {};
    setText('#plan-summary', off ? 'plans are off on this gateway' : p.state
      ? 'v' + p.version + ' · ' + p.state + (p.applied_version != null ? ' · running v' + p.applied_version : '') +
        (p.source ? ' · from ' + p.source : '') + (p.finished ? ' · ' + new Date(Date.parse(p.finished)).toLocaleString() : '')
      : 'no plan yet');
    $('#plan-summary').dataset.state = p.state || 'none';
    const err = $('#plan-error');
    err.hidden = !p.error;
    setText(err, p.error || '');
    const probs = $('#plan-problems');
    const pl = Array.isArray(p.problems) ? p.problems : [];
    probs.hidden = pl.length === 0;
    probs.replaceChildren(...pl.map((x) => el('li', {}, x)));
    const steps = Array.isArray(p.steps) ? p.steps : [];
    $('#plan-steps').hidden = steps.length === 0;
    $('#plan-steps tbody').replaceChildren(...steps.map((s) => {
      const gate = /^(start|restart|stop) /.test(s.name || '');
      return el('tr', { 'data-step': s.name || '', 'data-state': s.state || '', class: gate ? 'gate' : '' },
        el('td', { 'data-label': 'Step' }, (s.name || '') + (gate ? ' (health gate)' : '')),
        el('td', { 'data-label': 'State' }, el('span', { class: 'state', 'data-state': s.state || '' }, s.state || '')),
        el('td', { class: 'detail', 'data-label': 'Detail' }, s.detail || ''),
        el('td', { class: 'mono', 'data-label': 'Time' }, typeof s.ms === 'number' ? s.ms.toFixed(0) + ' ms' : ''));
    }));
    const applied = hist && hist.ok ? list(hist.doc, 'applied') : [];
    setText('#plan-history', applied.length ? applied.map((a) => 'v' + a.version + (a.current ? ' (running)' : '') +
      ' applied ' + new Date(Date.parse(a.applied_at)).toLocaleString()).join(' · ') : '–');
  }

  // ---- log tail ----

  const logs = { after: 0, key: '', busy: false };
  const MAX_LOG_LINES = 500;

  async function fetchLogs() {
    const level = $('#log-level').value;
    const q = $('#log-filter').value.trim().slice(0, 200);
    const key = level + '\u0000' + q;
    const box = $('#log-lines');
    if (key !== logs.key) { logs.key = key; logs.after = 0; box.replaceChildren(); }
    const r = await api('api/v1/logs?level=' + encodeURIComponent(level) + '&q=' + encodeURIComponent(q) +
      '&after=' + logs.after + '&limit=200');
    if (key !== logs.key) return; // the filter changed meanwhile
    if (!r.ok) { setText('#log-state', r.status === 404 ? 'this daemon keeps no log' : 'HTTP ' + r.status); return; }
    const recs = list(r.doc, 'records');
    if (typeof r.doc.next === 'number') {
      if (r.doc.next < logs.after) box.replaceChildren(); // the daemon restarted
      logs.after = r.doc.next;
    }
    const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    for (const rec of recs) {
      const t = Date.parse(rec.ts);
      // Log text is anything a service printed: textContent only.
      box.append(el('div', { class: 'logline', 'data-level': String(rec.level || '').toLowerCase(), 'data-seq': String(rec.seq) },
        el('span', { class: 'ts' }, isFinite(t) ? clock(t, true) : ''), ' ',
        el('span', { class: 'lvl' }, rec.level || ''), ' ',
        el('span', { class: 'msg' }, rec.msg || ''), ' ',
        el('span', { class: 'attrs' }, rec.attrs || '')));
    }
    while (box.childElementCount > MAX_LOG_LINES) box.firstElementChild.remove();
    if (atEnd && recs.length) box.scrollTop = box.scrollHeight;
    setText('#log-state', box.childElementCount + ' lines');
  }

  // ---- service restart ----

  const svcResults = new Map(); // service -> {cls, text}

  async function restartService(name) {
    svcResults.set(name, { cls: 'pending', text: 'restarting…' });
    refreshNow();
    try {
      const r = await api('api/v1/services/' + encodeURIComponent(name) + '/restart', 'POST', {});
      if (r.ok) svcResults.set(name, { cls: 'ok', text: 'restarted: ' + ((r.doc && r.doc.state) || 'ok') });
      else if (r.status === 401) svcResults.set(name, { cls: 'err', text: 'unauthorized: enter the API token below' });
      else svcResults.set(name, { cls: 'err', text: (r.doc && r.doc.error) || 'HTTP ' + r.status });
    } catch (e) {
      svcResults.set(name, { cls: 'err', text: 'not sent: daemon unreachable' });
    }
    refreshNow();
  }

  // ---- dead letters ----

  const DL_SHOWN = 50; // newest entries shown; the count covers them all
  const DL_ARM_MS = 10000; // a Drop asks for a second click within this
  const dl = { result: null, armed: new Map(), busy: false, key: '' }; // armed: id -> time of the first Drop click

  function renderDeadLetters(r) {
    const section = $('#deadletters-section');
    if (r.status === 404) { section.hidden = true; return; } // cloud sync off: no dead letters
    if (!r.ok) return; // keep what is shown; the banner covers a daemon error
    section.hidden = false;
    const doc = r.doc || {};
    const count = typeof doc.count === 'number' ? doc.count : 0;
    setText('#dl-summary', count + (count === 1 ? ' dead letter' : ' dead letters'));
    $('#dl-summary').dataset.count = String(count);
    const routes = Object.entries(doc.by_route && typeof doc.by_route === 'object' ? doc.by_route : {})
      .filter(([, n]) => typeof n === 'number').sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 20);
    $('#dl-routes').replaceChildren(...routes.map(([route, n]) =>
      el('span', { class: 'route-count', 'data-route': route, title: 'dead letters of route ' + route }, route + ' ' + n)));
    $('#dl-replay-all').disabled = count === 0 || dl.busy;
    const res = $('#dl-result');
    res.className = 'result' + (dl.result ? ' ' + dl.result.cls : '');
    setText(res, dl.result ? dl.result.text : '');

    const es = list(doc, 'dead_letters').slice(0, DL_SHOWN);
    const body = $('#deadletters tbody');
    const now = Date.now();
    for (const [id, t] of dl.armed) if (now - t > DL_ARM_MS || !es.some((e) => e.id === id)) dl.armed.delete(id);
    // Rebuilt only when something shown changed, so a click never lands
    // on a row being replaced.
    const key = JSON.stringify([es, [...dl.armed.keys()], dl.busy]);
    if (key !== dl.key) {
      dl.key = key;
      if (!es.length) body.replaceChildren(el('tr', { class: 'empty' }, el('td', { colspan: '6' }, 'no dead letters')));
      else body.replaceChildren(...es.map(deadLetterRow));
    }
    const more = $('#dl-more');
    more.hidden = count <= es.length;
    setText(more, 'showing the newest ' + es.length + ' of ' + count + ' (edged deadletters list shows them all)');
  }

  // deadLetterRow renders one entry; every field from the API goes in as
  // text (a reason or a device name may hold markup).
  function deadLetterRow(e) {
    const rd = e.reading || {};
    const t = Date.parse(e.dead_lettered_at);
    const id = typeof e.id === 'number' ? e.id : 0;
    const replay = el('button', { type: 'button', 'data-action': 'replay' }, 'Replay');
    const armed = dl.armed.has(id);
    const drop = el('button', { type: 'button', 'data-action': 'drop', 'data-armed': String(armed) }, armed ? 'Confirm drop' : 'Drop');
    replay.disabled = drop.disabled = dl.busy || id === 0;
    replay.addEventListener('click', () => deadLetterAct('replay', { ids: [id] }));
    drop.addEventListener('click', () => {
      if (!dl.armed.has(id)) { dl.armed.set(id, Date.now()); refreshNow(); return; }
      dl.armed.delete(id);
      deadLetterAct('drop', { ids: [id] });
    });
    return el('tr', { 'data-dead-letter': String(id), 'data-route': String(e.route || ''), 'data-replaying': String(!!e.replaying) },
      el('td', { class: 'mono', 'data-label': 'Dead-lettered', title: String(e.dead_lettered_at || '') }, isFinite(t) ? new Date(t).toLocaleString() : '–'),
      el('td', { class: 'mono', 'data-label': 'Route' }, String(e.route || '')),
      el('td', { class: 'dl-dev', 'data-label': 'Device · metric', title: 'seq ' + rd.seq }, String(rd.device || '') + ' · ' + String(rd.metric || '') +
        ' = ' + num(rd.value) + (rd.unit ? ' ' + String(rd.unit) : '')),
      el('td', { class: 'reason', 'data-label': 'Reason', title: String(e.reason || '') }, String(e.reason || '') + (e.replaying ? ' (replay cut short: may be a duplicate)' : '')),
      el('td', { class: 'mono attempts', 'data-label': 'Attempts' }, String(e.attempts != null ? e.attempts : '')),
      el('td', { class: 'control', 'data-label': 'Control' }, el('span', { class: 'buttons' }, replay, drop)));
  }

  // deadLetterAct replays or drops the selection (ids or all) with the
  // token, and says what the daemon did.
  async function deadLetterAct(what, sel) {
    dl.busy = true;
    dl.result = { cls: 'pending', text: what === 'replay' ? 'replaying…' : 'dropping…' };
    refreshNow();
    try {
      const r = await api('api/v1/deadletters/' + what, 'POST', sel);
      const d = r.doc || {};
      const done = what === 'replay' ? list(d, 'replayed') : list(d, 'dropped');
      const missing = list(d, 'not_found');
      if (r.status === 401) dl.result = { cls: 'err', text: 'unauthorized: enter the API token below' };
      else if (r.ok || (r.status === 404 && done.length + missing.length > 0)) {
        let text = (what === 'replay' ? 'replayed ' : 'dropped ') + done.length;
        if (what === 'replay' && done.length === 1 && typeof done[0].seq === 'number') text += ' (new seq ' + done[0].seq + ')';
        if (missing.length) text += '; ' + missing.length + ' already gone';
        dl.result = { cls: r.ok ? 'ok' : 'err', text };
      } else dl.result = { cls: 'err', text: d.error || 'HTTP ' + r.status };
    } catch (e) {
      dl.result = { cls: 'err', text: 'not sent: daemon unreachable' };
    } finally {
      dl.busy = false;
    }
    refreshNow();
  }

  // ---- polling ----

  function setBanner(text) {
    const b = $('#banner');
    b.hidden = !text;
    setText(b, text || '');
  }

  let lastOK = 0;

  async function poll() {
    try {
      const [st, dv, sv] = await Promise.all([api('api/v1/status'), api('api/v1/devices'), api('api/v1/services')]);
      lastOK = Date.now();
      const failed = [st, dv].find((r) => !r.ok && r.status !== 401);
      setBanner(failed ? 'The daemon answered HTTP ' + failed.status + ((failed.doc && failed.doc.error) ? ': ' + failed.doc.error : '') : '');
      if (st.ok) renderStatus(st.doc || {});
      if (dv.ok) {
        const all = list(dv.doc, 'devices');
        const devs = all.filter((d) => d.kind !== 'gateway');
        await fetchReadings(devs);
        renderDevices(devs);
        renderGateway(all.filter((d) => d.kind === 'gateway'));
        updateChartChoices(devs);
      }
      if (sv.ok || sv.status === 404) renderServices(list(sv.doc, 'services'));
      // The rest: each part on its own, so one failing leaves the others.
      const [pl, ph, al, dls] = await Promise.all([api('api/v1/plan'), api('api/v1/plan/history'), api('api/v1/alerts?limit=50'),
        api('api/v1/deadletters?order=newest&limit=' + DL_SHOWN), fetchChart(), fetchLogs()]);
      renderPlan(pl, ph);
      if (al.ok) renderAlerts(list(al.doc, 'alerts'));
      renderDeadLetters(dls);
      document.body.classList.remove('offline');
      setText('#updated', 'updated ' + new Date(lastOK).toLocaleTimeString());
    } catch (e) {
      document.body.classList.add('offline');
      setBanner('Disconnected: the daemon does not answer' +
        (lastOK ? ' (last update ' + new Date(lastOK).toLocaleTimeString() + ')' : '') + '. Retrying…');
    }
  }

  let timer = 0;
  let running = false;
  let again = false;

  async function tick() {
    if (running) { again = true; return; }
    running = true;
    clearTimeout(timer);
    try {
      await poll();
    } finally {
      running = false;
      timer = setTimeout(tick, again ? 0 : POLL_MS);
      again = false;
    }
  }

  // refreshNow polls at once (after a command), or right after the poll
  // in flight.
  function refreshNow() {
    if (running) again = true;
    else { clearTimeout(timer); timer = setTimeout(tick, 0); }
  }

  function start() {
    loadToken();
    $('#token-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const input = $('#token');
      if (input.value.trim()) storeToken(input.value.trim());
      input.value = '';
      refused.clear();
      $('#auth').hidden = true;
      refreshNow();
    });
    $('#token-forget').addEventListener('click', () => { storeToken(''); refreshNow(); });
    $('#chart-series').addEventListener('change', (ev) => {
      const o = ev.target.selectedOptions[0];
      if (o) selectChart(o.dataset.device, o.dataset.metric, true);
    });
    for (const b of document.querySelectorAll('#chart-ranges button')) {
      b.addEventListener('click', () => {
        chart.range = b.dataset.range;
        chart.pts = [];
        for (const o of document.querySelectorAll('#chart-ranges button')) o.setAttribute('aria-pressed', String(o === b));
        drawChart();
        fetchChart().catch(() => {});
      });
    }
    $('#chart').addEventListener('mousemove', hover);
    $('#devices').addEventListener('click', (ev) => {
      const m = ev.target.closest('.metric');
      const tr = ev.target.closest('tr[data-device]');
      if (m && tr) { selectChart(tr.dataset.device, m.dataset.metric, true); $('#chart-section').scrollIntoView({ block: 'nearest' }); }
    });
    $('#log-form').addEventListener('submit', (ev) => { ev.preventDefault(); refreshNow(); });
    $('#log-level').addEventListener('change', () => refreshNow());
    $('#log-filter').addEventListener('input', () => refreshNow());
    $('#dl-replay-all').addEventListener('click', () => deadLetterAct('replay', { all: true }));
    drawChart();
    window.addEventListener('hashchange', () => { if (location.hash.includes('token=')) { loadToken(); refreshNow(); } });
    tick();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
