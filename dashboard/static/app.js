// The bgjob dashboard: reads the JSON API and the event streams of the
// handler it is served by, with relative URLs, so that it works under any
// prefix. Every string a job provides reaches the page as text
// (textContent, text nodes, attribute values), never as markup.
'use strict';

(() => {
  const SVG = 'http://www.w3.org/2000/svg';
  const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);
  const MAX_FINISHED_ROWS = 200;
  const MAX_LOG_LINES = 200;
  const MAX_EVENTS = 100;
  const MAX_CHART_POINTS = 2000;
  const HISTORY_PAGE = 25;

  // el makes an element; props set its class, text, listeners and plain
  // attributes; children are nodes or strings, which become text nodes.
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) {
      if (c !== undefined && c !== null) e.append(c);
    }
    return e;
  }

  function svgEl(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }

  const $ = (id) => document.getElementById(id);

  // num reads a JSON number that may be "NaN", "+Inf" or "-Inf".
  function num(v) {
    if (typeof v === 'number') return v;
    if (v === '+Inf') return Infinity;
    if (v === '-Inf') return -Infinity;
    if (v === 'NaN') return NaN;
    const n = Number(v);
    return Number.isNaN(n) ? NaN : n;
  }

  function fmtNum(v) {
    v = num(v);
    if (!Number.isFinite(v)) return String(v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : 'NaN');
    const a = Math.abs(v);
    if (a !== 0 && (a < 0.001 || a >= 1e6)) return v.toExponential(2);
    return String(Number(v.toPrecision(4)));
  }

  // fmtDur renders seconds as the library's FormatDuration does.
  function fmtDur(s) {
    if (s === undefined || s === null || !Number.isFinite(s)) return '–';
    if (s < 1) return Math.round(s * 1000) + 'ms';
    if (s < 60) return s.toFixed(1) + 's';
    if (s < 3600) return (s / 60).toFixed(1) + 'min';
    return (s / 3600).toFixed(1) + 'h';
  }

  function fmtTime(t) {
    if (!t) return '–';
    const d = new Date(t);
    if (Number.isNaN(d.getTime())) return '–';
    return d.toLocaleTimeString([], { hour12: false });
  }

  function fmtBytes(b) {
    if (!b) return '–';
    return (b / 1e6).toFixed(1) + ' MB';
  }

  function firstLine(s) {
    const i = s.indexOf('\n');
    return i < 0 ? s : s.slice(0, i);
  }

  async function getJSON(path) {
    const resp = await fetch(path, { headers: { Accept: 'application/json' } });
    if (!resp.ok) {
      let msg = resp.status + ' ' + resp.statusText;
      try { msg = (await resp.json()).error || msg; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    return resp.json();
  }

  // ---- connection and routing ----

  let config = { control: false, actions: [], stacks: false };
  let stream = null; // the open EventSource, one at a time
  let view = null; // the current view's state, with its own stop()

  function setConn(text, cls) {
    const c = $('conn');
    c.textContent = text;
    c.className = 'conn ' + (cls || '');
  }

  function closeStream() {
    if (stream) {
      stream.close();
      stream = null;
    }
  }

  // openStream opens an EventSource on path and hands its messages to
  // the handlers: snapshot(data, isReset), event(ev), end(reason).
  function openStream(path, h) {
    closeStream();
    const es = new EventSource(path);
    stream = es;
    es.addEventListener('open', () => setConn('live', 'live'));
    es.addEventListener('error', () => {
      if (stream === es) setConn('reconnecting…', 'down');
    });
    es.addEventListener('snapshot', (m) => h.snapshot(JSON.parse(m.data), false));
    es.addEventListener('reset', (m) => h.snapshot(JSON.parse(m.data), true));
    es.addEventListener('message', (m) => h.event(JSON.parse(m.data)));
    es.addEventListener('end', (m) => {
      es.close();
      if (stream === es) stream = null;
      h.end(JSON.parse(m.data).reason);
    });
  }

  // A page being left closes its stream, so that the server frees it at
  // once and the browser keeps no connection open.
  window.addEventListener('pagehide', closeStream);

  function route() {
    if (view) view.stop();
    closeStream();
    const hash = location.hash || '#/';
    for (const id of ['view-jobs', 'view-job', 'view-history']) $(id).hidden = true;
    $('nav-jobs').className = '';
    $('nav-history').className = '';
    const m = /^#\/job\/([^/?]+)$/.exec(hash);
    if (m && ID.test(m[1])) {
      view = jobView(m[1]);
    } else if (hash.startsWith('#/history')) {
      $('nav-history').className = 'current';
      view = historyView();
    } else {
      $('nav-jobs').className = 'current';
      view = jobsView();
    }
  }

  // ---- job state shared by the views ----

  // merge copies into job the fields a status or an event carries. Both
  // use the same names; an event also says what happened.
  function merge(job, src) {
    for (const k of ['job_id', 'name', 'state', 'percent', 'step', 'total', 'message', 'rate', 'eta_seconds',
      'metrics', 'is_alive', 'thread_id', 'thread_name', 'process_id', 'os_thread_id', 'start_time', 'end_time',
      'duration_seconds', 'paused_seconds', 'queue_wait_seconds', 'error', 'traceback', 'priority']) {
      if (src[k] !== undefined) job[k] = src[k];
    }
    // Fields left out of the JSON when zero or false.
    job.stalled = !!src.stalled;
    if (src.type === undefined || src.type === 'progress' || TERMINAL.has(src.state)) {
      if (src.eta_seconds === undefined) job.eta_seconds = undefined;
      if (src.message === undefined) job.message = '';
    }
    if (src.type === 'complete' && src.error === undefined) job.error = undefined;
    return job;
  }

  function stateBadges(job) {
    const out = [el('span', { class: 'badge s-' + job.state, text: job.state || '?' })];
    if (job.stalled && !TERMINAL.has(job.state)) out.push(el('span', { class: 'badge s-stalled', text: 'stalled' }));
    return out;
  }

  function progressText(job) {
    const pct = num(job.percent || 0);
    let s = Math.floor(pct) + '%';
    if (job.total) s += ' · ' + (job.step || 0) + '/' + job.total;
    else if (job.step) s += ' · step ' + job.step;
    return s;
  }

  function fillClass(job) {
    if (job.state === 'succeeded') return 'fill done';
    if (job.state === 'failed' || job.state === 'canceled') return 'fill bad';
    if (job.state === 'paused' || job.state === 'pausing') return 'fill held';
    return 'fill';
  }

  function metricsNodes(job) {
    return (job.metrics || []).map((m) => el('span', { class: 'metric' }, m.name + ' ' + fmtNum(m.value)));
  }

  function rateText(job) {
    if (!job.rate || TERMINAL.has(job.state) && !job.rate) return '–';
    return fmtNum(job.rate) + (job.total || job.step ? ' steps/s' : ' %/s');
  }

  // controls returns the buttons the authorizer allows for the job.
  function controls(job, reasonInput) {
    if (!config.control || config.actions.length === 0 || TERMINAL.has(job.state)) return null;
    const box = el('div', { class: 'controls' });
    const live = !TERMINAL.has(job.state);
    const can = {
      pause: job.state === 'running',
      resume: job.state === 'pausing' || job.state === 'paused',
      cancel: live && job.state !== 'canceling' && job.state !== 'abandoned',
    };
    for (const a of config.actions) {
      const b = el('button', { type: 'button', class: 'ctl-' + a + (a === 'cancel' ? ' danger' : ''), 'data-action': a },
        a[0].toUpperCase() + a.slice(1));
      b.disabled = !can[a];
      b.addEventListener('click', () => act(job.job_id, a, reasonInput ? reasonInput.value : '', b));
      box.append(b);
    }
    return box;
  }

  async function act(id, action, reason, button) {
    button.disabled = true;
    const opts = { method: 'POST', headers: { 'Content-Type': 'application/json' } };
    if (action === 'cancel' && reason.trim()) opts.body = JSON.stringify({ reason: reason.trim() });
    try {
      const resp = await fetch('api/jobs/' + id + '/' + action, opts);
      if (!resp.ok) {
        let msg = resp.statusText;
        try { msg = (await resp.json()).error || msg; } catch (e) { /* not JSON */ }
        setConn(action + ' refused: ' + msg, 'down');
        button.disabled = false;
      }
    } catch (e) {
      setConn(action + ' failed', 'down');
      button.disabled = false;
    }
  }

  // Rendering waits a moment, so that a burst of events costs one redraw.
  // A timer rather than the next animation frame: a page in a background
  // tab gets no frames, and would show stale values when looked at.
  function scheduler(render) {
    let pending = false;
    return () => {
      if (pending) return;
      pending = true;
      setTimeout(() => {
        pending = false;
        render();
      }, 40);
    };
  }

  // ---- the jobs view ----

  function jobsView() {
    $('view-jobs').hidden = false;
    const body = $('jobs-body');
    body.replaceChildren();
    const rows = new Map(); // job id → {job, tr, cells}
    const dirty = new Set();
    let counts = {};
    let runner = {};
    let stopped = false;

    function row(id) {
      let r = rows.get(id);
      if (r) return r;
      const job = { job_id: id };
      const tr = el('tr', { 'data-job-id': id });
      const cells = {
        name: el('td', { class: 'name' }),
        state: el('td'),
        progress: el('td', { class: 'col-progress' }),
        rate: el('td', { class: 'col-rate num' }),
        eta: el('td', { class: 'col-eta num' }),
        metrics: el('td', { class: 'col-metrics metrics' }),
        control: el('td', { class: 'col-control' }),
      };
      cells.fill = el('div', { class: 'fill' });
      cells.pct = el('div', { class: 'progress-text pct' });
      cells.msg = el('div', { class: 'message' });
      cells.progress.append(el('div', { class: 'bar' }, cells.fill), cells.pct, cells.msg);
      cells.link = el('a', { href: '#/job/' + id, class: 'job-link' });
      cells.name.append(cells.link);
      tr.append(cells.name, cells.state, cells.progress, cells.rate, cells.eta, cells.metrics, cells.control);
      body.prepend(tr);
      r = { job, tr, cells, shownState: null };
      rows.set(id, r);
      trimFinished();
      return r;
    }

    function trimFinished() {
      let finished = 0;
      for (const tr of Array.from(body.children)) {
        const r = rows.get(tr.getAttribute('data-job-id'));
        if (r && TERMINAL.has(r.job.state) && ++finished > MAX_FINISHED_ROWS) {
          tr.remove();
          rows.delete(r.job.job_id);
        }
      }
    }

    function paint(r) {
      const { job, cells } = r;
      cells.link.textContent = job.name || job.job_id;
      cells.state.replaceChildren(...stateBadges(job));
      const pct = Math.max(0, Math.min(100, num(job.percent || 0)));
      cells.fill.style.width = pct + '%';
      cells.fill.className = fillClass(job);
      cells.pct.textContent = progressText(job);
      cells.msg.textContent = job.error ? firstLine(job.error) : (job.message || '');
      cells.msg.className = job.error ? 'message error' : 'message';
      cells.rate.textContent = rateText(job);
      cells.eta.textContent = TERMINAL.has(job.state) ? 'ran ' + fmtDur(job.duration_seconds) : (job.eta_seconds ? 'ETA ' + fmtDur(job.eta_seconds) : '–');
      cells.metrics.replaceChildren(...metricsNodes(job));
      if (r.shownState !== job.state) {
        cells.control.replaceChildren(controls(job) || '');
        r.shownState = job.state;
      }
    }

    function paintSummary() {
      const s = $('summary');
      const parts = [];
      if (runner.process_id) parts.push(['process', String(runner.process_id)]);
      for (const k of ['running', 'queued', 'pausing', 'paused', 'canceling', 'abandoned', 'succeeded', 'failed', 'canceled']) {
        if (counts[k]) parts.push([k, String(counts[k])]);
      }
      const res = runner.resources || {};
      if (res.rss_bytes) parts.push(['RSS', fmtBytes(res.rss_bytes)]);
      if (res.heap_bytes) parts.push(['heap', fmtBytes(res.heap_bytes)]);
      if (res.goroutines) parts.push(['goroutines', String(res.goroutines)]);
      s.replaceChildren(...parts.map(([k, v]) => el('span', null, k + ' ', el('b', { text: v }))));
      $('jobs-empty').hidden = rows.size > 0;
    }

    const render = scheduler(() => {
      for (const id of dirty) {
        const r = rows.get(id);
        if (r) paint(r);
      }
      dirty.clear();
      paintSummary();
    });

    function apply(ev) {
      if (!ID.test(ev.job_id || '')) return;
      const r = row(ev.job_id);
      const before = r.job.state;
      merge(r.job, ev);
      if (ev.type === 'info' && !before) counts[r.job.state] = (counts[r.job.state] || 0) + 1;
      else if (before && before !== r.job.state) {
        counts[before] = Math.max(0, (counts[before] || 0) - 1);
        counts[r.job.state] = (counts[r.job.state] || 0) + 1;
      }
      dirty.add(ev.job_id);
      render();
    }

    function snapshot(st, isReset) {
      runner = st;
      counts = Object.assign({}, st.counts || {});
      const live = new Set();
      for (const js of st.jobs || []) {
        if (!ID.test(js.job_id || '')) continue;
        live.add(js.job_id);
        merge(row(js.job_id).job, js);
        dirty.add(js.job_id);
      }
      if (isReset) {
        // Jobs that ended while the stream was behind: read their end.
        for (const [id, r] of rows) {
          if (!live.has(id) && !TERMINAL.has(r.job.state)) {
            getJSON('api/jobs/' + id).then((js) => { merge(r.job, js); dirty.add(id); render(); }).catch(() => {});
          }
        }
      }
      render();
    }

    getJSON('api/history?limit=10').then((page) => {
      if (stopped) return;
      for (const js of page.records.slice().reverse()) {
        if (!ID.test(js.job_id || '') || rows.has(js.job_id)) continue;
        const r = row(js.job_id);
        merge(r.job, js);
        // Finished before the page loaded: below the live jobs.
        body.append(r.tr);
        dirty.add(js.job_id);
      }
      render();
    }).catch(() => {});

    openStream('api/events?types=info,queued,worker_started,progress,paused,resumed,stalled,unstalled,abandoned,complete,worker_stopped', {
      snapshot,
      event: apply,
      end: () => setConn('runner stopped', ''),
    });

    return { stop() { stopped = true; } };
  }

  // ---- charts ----

  // chart draws lines (each a list of [x, y]) with optional bands
  // ([x0, x1, class]) and min-max ranges into svg, scaled to fit.
  function chart(svg, opts) {
    const W = 600, H = 180, L = 46, R = 8, T = 8, B = 20;
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.setAttribute('preserveAspectRatio', 'none');
    const lines = opts.lines.map((l) => l.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1])));
    let x0 = Infinity, x1 = -Infinity, y0 = opts.yMin ?? Infinity, y1 = opts.yMax ?? -Infinity;
    for (const pts of lines) {
      for (const [x, y] of pts) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x);
        if (opts.yMin === undefined) y0 = Math.min(y0, y);
        if (opts.yMax === undefined) y1 = Math.max(y1, y);
      }
    }
    for (const [a, b] of opts.ranges || []) {
      if (Number.isFinite(a)) y0 = Math.min(y0, a);
      if (Number.isFinite(b)) y1 = Math.max(y1, b);
    }
    for (const [a, b] of opts.bands || []) {
      x0 = Math.min(x0, a); x1 = Math.max(x1, b);
    }
    const kids = [];
    const count = lines.reduce((n, l) => n + l.length, 0);
    svg.setAttribute('data-points', String(count));
    if (!Number.isFinite(x0) || !Number.isFinite(y0)) {
      const t = svgEl('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' });
      t.textContent = 'no data yet';
      svg.replaceChildren(t);
      return;
    }
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) { y1 = y0 + Math.abs(y0 || 1) * 0.1; y0 -= Math.abs(y0 || 1) * 0.1; }
    const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
    const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
    kids.push(svgEl('line', { class: 'axis', x1: L, y1: H - B, x2: W - R, y2: H - B }));
    kids.push(svgEl('line', { class: 'axis', x1: L, y1: T, x2: L, y2: H - B }));
    for (const [y, anchor] of [[y1, T + 8], [y0, H - B]]) {
      const t = svgEl('text', { x: L - 4, y: anchor, 'text-anchor': 'end' });
      t.textContent = fmtNum(y);
      kids.push(t);
    }
    for (const [x, anchor] of [[x0, 'start'], [x1, 'end']]) {
      const t = svgEl('text', { x: anchor === 'start' ? L : W - R, y: H - 6, 'text-anchor': anchor });
      t.textContent = opts.xLabel ? opts.xLabel(x) : fmtNum(x);
      kids.push(t);
    }
    for (const [a, b, cls] of opts.bands || []) {
      if (b - a <= 0) {
        kids.push(svgEl('line', { class: 'mark ' + cls, x1: sx(a), y1: T, x2: sx(a), y2: H - B }));
      } else {
        kids.push(svgEl('rect', { class: cls, x: sx(a), y: T, width: Math.max(1, sx(b) - sx(a)), height: H - T - B }));
      }
    }
    if (opts.band && opts.band.length > 1) {
      const up = opts.band.filter((p) => [p[0], p[1], p[2]].every(Number.isFinite));
      if (up.length > 1) {
        const d = up.map((p, i) => (i ? 'L' : 'M') + sx(p[0]).toFixed(1) + ' ' + sy(p[2]).toFixed(1)).join(' ') + ' ' +
          up.slice().reverse().map((p) => 'L' + sx(p[0]).toFixed(1) + ' ' + sy(p[1]).toFixed(1)).join(' ') + ' Z';
        kids.push(svgEl('path', { class: 'band', d }));
      }
    }
    lines.forEach((pts, i) => {
      if (pts.length === 0) return;
      const d = pts.map((p, j) => (j ? 'L' : 'M') + sx(p[0]).toFixed(1) + ' ' + sy(p[1]).toFixed(1)).join(' ');
      kids.push(svgEl('path', { class: 'line' + (i ? ' second' : ''), d }));
      if (pts.length === 1) kids.push(svgEl('circle', { class: 'line', cx: sx(pts[0][0]), cy: sy(pts[0][1]), r: 2 }));
    });
    for (const x of opts.badX || []) {
      if (Number.isFinite(x)) kids.push(svgEl('circle', { class: 'bad-point', cx: sx(Math.min(Math.max(x, x0), x1)), cy: T + 4, r: 3 }));
    }
    svg.replaceChildren(...kids);
  }

  // ---- a job's page ----

  function jobView(id) {
    const root = $('view-job');
    root.hidden = false;
    root.replaceChildren(el('p', { class: 'empty', text: 'Loading…' }));
    const job = { job_id: id };
    const series = new Map(); // metric name → [{step, min, max, last}]
    const timeline = []; // {t, kind, percent, resources}
    const logs = [];
    const events = [];
    let lastLogTime = '';
    let stopped = false;
    let ui = null;

    function build() {
      const reason = el('input', { class: 'reason', type: 'text', maxlength: '512', placeholder: 'reason for canceling' });
      ui = {
        title: el('h1'),
        badges: el('span'),
        facts: el('dl', { class: 'facts' }),
        fill: el('div', { class: 'fill' }),
        pct: el('div', { class: 'progress-text pct' }),
        msg: el('div', { class: 'message' }),
        control: el('div', { class: 'controls' }),
        reason,
        errorBox: el('div'),
        metrics: el('div', { class: 'grid' }),
        charts: new Map(),
        progressSvg: svgEl('svg', { class: 'chart progress-chart' }),
        resourceSvg: svgEl('svg', { class: 'chart resource-chart' }),
        resourceText: el('div', { class: 'legend' }),
        log: el('ul', { class: 'log' }),
        events: el('ul', { class: 'events' }),
        shownState: null,
      };
      root.replaceChildren(
        el('div', { class: 'job-head' }, el('a', { href: '#/', text: '← jobs' }), ui.title, ui.badges),
        ui.facts,
        el('div', { class: 'card' }, el('div', { class: 'bar' }, ui.fill), ui.pct, ui.msg,
          config.control && config.actions.length ? el('div', { class: 'controls' }, ui.control,
            config.actions.includes('cancel') ? reason : null) : null),
        ui.errorBox,
        ui.metrics,
        el('div', { class: 'section-gap' }),
        el('div', { class: 'grid' },
          el('div', { class: 'card' }, el('h2', { text: 'Progress over time' }), ui.progressSvg,
            el('div', { class: 'legend' }, el('span', { class: 'k-paused', text: 'paused' }), el('span', { class: 'k-stalled', text: 'stalled' }))),
          el('div', { class: 'card' }, el('h2', { text: 'Resources (process)' }), ui.resourceSvg, ui.resourceText)),
        el('div', { class: 'section-gap' }),
        el('div', { class: 'grid' },
          el('div', { class: 'card' }, el('h2', { text: 'Log' }), ui.log),
          el('div', { class: 'card' }, el('h2', { text: 'Events' }), ui.events)),
      );
    }

    function fact(label, value) {
      return [el('div', null, el('dt', { text: label }), el('dd', { text: value }))];
    }

    function paintHead() {
      ui.title.textContent = job.name || id;
      document.title = (job.name || 'job') + ' · bgjob';
      ui.badges.replaceChildren(...stateBadges(job));
      const pct = Math.max(0, Math.min(100, num(job.percent || 0)));
      ui.fill.style.width = pct + '%';
      ui.fill.className = fillClass(job);
      let line = progressText(job);
      if (job.rate) line += ' · ' + rateText(job);
      if (job.eta_seconds && !TERMINAL.has(job.state)) line += ' · ETA ' + fmtDur(job.eta_seconds);
      ui.pct.textContent = line;
      ui.msg.textContent = job.message || '';
      ui.facts.replaceChildren(
        ...fact('Job ID', id),
        ...fact('Worker', job.thread_id ? '#' + job.thread_id + (job.is_alive ? ' (alive)' : ' (stopped)') : '–'),
        ...fact('Process ID', job.process_id ? String(job.process_id) : '–'),
        ...(job.os_thread_id ? fact('OS thread', String(job.os_thread_id)) : []),
        ...fact('Started', job.start_time ? new Date(job.start_time).toLocaleString() : '–'),
        ...fact('Run time', fmtDur(job.duration_seconds)),
        ...(job.queue_wait_seconds ? fact('Queue wait', fmtDur(job.queue_wait_seconds)) : []),
        ...(job.paused_seconds ? fact('Paused', fmtDur(job.paused_seconds)) : []),
      );
      if (ui.shownState !== job.state) {
        ui.control.replaceChildren(...(controls(job, ui.reason) || el('span')).childNodes);
        ui.shownState = job.state;
      }
      if (job.error) {
        const box = el('div', { class: 'card' }, el('h2', { text: 'Error' }), el('div', { class: 'error job-error', text: job.error }));
        if (job.traceback) box.append(el('details', null, el('summary', { text: 'traceback' }), el('pre', { text: job.traceback })));
        ui.errorBox.replaceChildren(box);
      } else {
        ui.errorBox.replaceChildren();
      }
    }

    function paintMetrics() {
      for (const [name, pts] of series) {
        let c = ui.charts.get(name);
        if (!c) {
          c = { svg: svgEl('svg', { class: 'chart metric-chart', 'data-metric': name }), latest: el('span', { class: 'latest' }) };
          ui.charts.set(name, c);
          ui.metrics.append(el('div', { class: 'card' }, el('h2', null, el('span', { text: name }), c.latest), c.svg));
        }
        const last = pts[pts.length - 1];
        c.latest.textContent = last ? fmtNum(last.last) + ' at step ' + last.step : '';
        chart(c.svg, {
          lines: [{ points: pts.map((p) => [p.step, num(p.last)]) }],
          band: pts.map((p) => [p.step, num(p.min), num(p.max)]),
          badX: pts.filter((p) => !Number.isFinite(num(p.last))).map((p) => p.step),
        });
      }
    }

    function paintTimeline() {
      const prog = [], bands = [], rss = [], heap = [];
      let pauseStart = null, stallStart = null;
      const t0 = timeline.length ? timeline[0].t : 0;
      for (const p of timeline) {
        const x = (p.t - t0) / 1000;
        switch (p.kind) {
          case 'progress': prog.push([x, num(p.percent)]); break;
          case 'paused': pauseStart = x; break;
          case 'resumed': bands.push([pauseStart ?? x, x, 'paused']); pauseStart = null; break;
          case 'stalled': stallStart = x; break;
          case 'unstalled': bands.push([stallStart ?? x, x, 'stalled']); stallStart = null; break;
          case 'resources':
            if (p.resources) {
              if (p.resources.rss_bytes) rss.push([x, p.resources.rss_bytes / 1e6]);
              if (p.resources.heap_bytes) heap.push([x, p.resources.heap_bytes / 1e6]);
            }
            break;
        }
      }
      const end = timeline.length ? (timeline[timeline.length - 1].t - t0) / 1000 : 0;
      if (pauseStart !== null) bands.push([pauseStart, TERMINAL.has(job.state) ? pauseStart : end, 'paused']);
      if (stallStart !== null) bands.push([stallStart, TERMINAL.has(job.state) ? stallStart : end, 'stalled']);
      chart(ui.progressSvg, { lines: [{ points: prog }], bands, yMin: 0, yMax: 100, xLabel: (x) => fmtDur(x) });
      chart(ui.resourceSvg, { lines: [{ points: rss }, { points: heap }], xLabel: (x) => fmtDur(x) });
      const lastRes = [...timeline].reverse().find((p) => p.kind === 'resources' && p.resources);
      const r = lastRes ? lastRes.resources : {};
      ui.resourceText.replaceChildren(
        el('span', { class: 'k-rss', text: 'RSS ' + fmtBytes(r.rss_bytes) }),
        el('span', { class: 'k-heap', text: 'heap ' + fmtBytes(r.heap_bytes) }),
        el('span', { text: 'goroutines ' + (r.goroutines || '–') }),
        el('span', { text: 'CPU ' + (r.cpu_seconds ? fmtDur(r.cpu_seconds) : '–') }),
      );
    }

    function logLine(l) {
      const level = typeof l.level === 'string' ? l.level : String(l.level);
      const attrs = (l.attrs || []).map((a) => a.key + '=' + (typeof a.value === 'string' ? a.value : JSON.stringify(a.value))).join(' ');
      return el('li', { class: 'lvl-' + level.replace(/[^A-Z]/g, '') }, el('time', { text: fmtTime(l.time) }),
        level + ' ' + (l.message || '') + (attrs ? ' ' + attrs : ''));
    }

    function paintLogs() {
      const atBottom = ui.log.scrollTop + ui.log.clientHeight >= ui.log.scrollHeight - 4;
      ui.log.replaceChildren(...logs.map(logLine));
      if (logs.length === 0) ui.log.append(el('li', { class: 'empty', text: 'nothing logged' }));
      if (atBottom) ui.log.scrollTop = ui.log.scrollHeight;
    }

    function eventSummary(ev) {
      switch (ev.type) {
        case 'progress': return progressText(ev) + (ev.message ? ' ' + ev.message : '');
        case 'complete': return ev.state + ' after ' + fmtDur(ev.duration_seconds) + (ev.error ? ': ' + firstLine(ev.error) : '');
        case 'queued': return 'position ' + (ev.queue_position || '?');
        case 'log': return ev.message || '';
        case 'resumed': return 'after ' + fmtDur(ev.paused_seconds);
        default: return ev.state || '';
      }
    }

    function paintEvents() {
      ui.events.replaceChildren(...events.slice().reverse().map((ev) =>
        el('li', { class: 'ev-' + ev.type }, el('time', { text: fmtTime(ev.timestamp) }), el('span', { class: 'type', text: ev.type }), eventSummary(ev))));
    }

    const render = scheduler(() => {
      if (!ui) return;
      paintHead();
      paintMetrics();
      paintTimeline();
      paintLogs();
      paintEvents();
    });

    function addMetricPoints(metrics) {
      for (const m of metrics || []) {
        let pts = series.get(m.name);
        if (!pts) series.set(m.name, pts = []);
        const last = pts[pts.length - 1];
        if (last && m.step < last.step) continue;
        if (last && m.step === last.step) {
          last.last = m.value;
          last.min = Math.min(num(last.min), num(m.value));
          last.max = Math.max(num(last.max), num(m.value));
          continue;
        }
        pts.push({ step: m.step, min: m.value, max: m.value, last: m.value });
        if (pts.length > MAX_CHART_POINTS) pts.splice(0, pts.length - MAX_CHART_POINTS);
      }
    }

    function apply(ev) {
      if (ev.job_id !== id) return;
      merge(job, ev);
      events.push(ev);
      if (events.length > MAX_EVENTS) events.shift();
      const t = Date.parse(ev.timestamp);
      switch (ev.type) {
        case 'log':
          if (ev.timestamp > lastLogTime) {
            logs.push({ time: ev.timestamp, level: ev.level, message: ev.message, attrs: ev.attrs });
            if (logs.length > MAX_LOG_LINES) logs.shift();
          }
          break;
        case 'progress':
          timeline.push({ t, kind: 'progress', percent: ev.percent });
          addMetricPoints(ev.metrics);
          break;
        case 'paused': case 'resumed': case 'stalled': case 'unstalled':
          timeline.push({ t, kind: ev.type, percent: ev.percent });
          addMetricPoints(ev.metrics);
          break;
        case 'complete':
          timeline.push({ t, kind: 'progress', percent: ev.percent });
          addMetricPoints(ev.metrics);
          break;
      }
      if (timeline.length > 4000) timeline.splice(0, timeline.length - 4000);
      render();
    }

    Promise.all([
      getJSON('api/jobs/' + id),
      getJSON('api/jobs/' + id + '/metrics'),
      getJSON('api/jobs/' + id + '/timeline'),
      getJSON('api/jobs/' + id + '/logs?limit=' + MAX_LOG_LINES),
    ]).then(([st, ms, tl, lg]) => {
      if (stopped) return;
      merge(job, st);
      for (const s of ms) series.set(s.name, s.points.map((p) => ({ step: p.step, min: p.min, max: p.max, last: p.last })));
      for (const p of tl) timeline.push({ t: Date.parse(p.time), kind: p.kind, percent: p.percent, resources: p.resources });
      logs.push(...lg);
      if (lg.length) lastLogTime = lg[lg.length - 1].time;
      build();
      render();
      openStream('api/jobs/' + id + '/events', {
        snapshot: (st2) => { merge(job, st2); render(); },
        event: apply,
        end: () => setConn(TERMINAL.has(job.state) ? 'job ended' : 'stream ended', ''),
      });
    }).catch((e) => {
      if (stopped) return;
      root.replaceChildren(el('p', { class: 'error', text: 'Cannot show this job: ' + e.message }), el('a', { href: '#/', text: '← jobs' }));
    });

    return { stop() { stopped = true; document.title = 'bgjob'; } };
  }

  // ---- history ----

  function historyView() {
    $('view-history').hidden = false;
    let offset = 0;
    let stopped = false;
    const form = $('history-filter');

    async function load() {
      const q = new URLSearchParams();
      q.set('limit', String(HISTORY_PAGE));
      if (offset) q.set('offset', String(offset));
      const state = $('history-state').value;
      if (state) q.set('state', state);
      const name = $('history-name').value.trim();
      if (name) q.set('name', name);
      let page;
      try {
        page = await getJSON('api/history?' + q.toString());
      } catch (e) {
        $('history-body').replaceChildren(el('tr', null, el('td', { class: 'error', colspan: '6', text: e.message })));
        return;
      }
      if (stopped) return;
      $('history-body').replaceChildren(...page.records.filter((r) => ID.test(r.job_id || '')).map((r) => {
        const err = el('td', { class: 'error' });
        if (r.error) {
          err.append(firstLine(r.error));
          if (r.traceback) err.append(el('details', null, el('summary', { text: 'traceback' }), el('pre', { text: r.traceback })));
        }
        return el('tr', { 'data-job-id': r.job_id },
          el('td', { class: 'name' }, el('a', { href: '#/job/' + r.job_id, text: r.name })),
          el('td', null, ...stateBadges(r)),
          el('td', { class: 'col-started num', text: r.start_time ? new Date(r.start_time).toLocaleString() : '–' }),
          el('td', { class: 'num', text: fmtDur(r.duration_seconds) }),
          el('td', { class: 'col-wait num', text: r.queue_wait_seconds ? fmtDur(r.queue_wait_seconds) : '–' }),
          err);
      }));
      $('history-empty').hidden = page.records.length > 0;
      $('history-prev').disabled = offset === 0;
      $('history-next').disabled = !page.next_offset;
      $('history-next').onclick = () => { offset = page.next_offset; load(); };
    }

    form.onsubmit = (e) => { e.preventDefault(); offset = 0; load(); };
    $('history-prev').onclick = () => { offset = Math.max(0, offset - HISTORY_PAGE); load(); };
    setConn('history', '');
    load();
    return { stop() { stopped = true; } };
  }

  // ---- start ----

  window.addEventListener('hashchange', route);
  getJSON('api/config').then((c) => { config = c; }).catch(() => {}).finally(route);
})();
