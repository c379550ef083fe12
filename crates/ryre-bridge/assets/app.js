// The ryre dashboard: plain modern JavaScript, no build step. State comes from the REST API
// once per connection, then only from the live event stream (Server-Sent Events): no polling.
// When the stream drops (the bridge restarted, or it dropped us as too slow) we reconnect and
// rebuild the state from the API.

const API = "/api/v1";
const BUCKET_MS = 5000;          // one sparkline point per 5 s
const BUCKETS = 36;              // 3 minutes
const FEED_MAX = 200;
const SVGNS = "http://www.w3.org/2000/svg";

// A token from `#token=...` (kept in localStorage), for bridges started with --token.
const hashToken = new URLSearchParams(location.hash.slice(1)).get("token");
if (hashToken) localStorage.setItem("ryre-token", hashToken);
const token = hashToken || localStorage.getItem("ryre-token") || "";

const state = {
  self: null,                     // {uuid, name, endpoint, groups}
  peers: new Map(),               // uuid -> {uuid, name, endpoint, groups:Set, state}
  ownGroups: new Set(),
  rates: new Map(),               // group -> {start, counts[]}
};

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k === "data") Object.assign(e.dataset, v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
};

async function api(method, path, body, contentType) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (contentType) headers["Content-Type"] = contentType;
  const r = await fetch(API + path, { method, headers, body });
  if (!r.ok) {
    let detail = `${r.status} ${r.statusText}`;
    try {
      const p = await r.json();
      detail = `${p.status} ${p.title}: ${p.detail || ""}`;
    } catch (_) { /* not a problem document */ }
    throw new Error(detail);
  }
  return r.status === 204 ? null : r.json();
}

// ---------------------------------------------------------------------------------------------
// State from the API (on every (re)connection)

async function loadState() {
  const [node, peers] = await Promise.all([api("GET", "/node"), api("GET", "/peers")]);
  state.self = node;
  state.ownGroups = new Set(node.groups);
  const seen = new Set();
  for (const p of peers.peers) {
    seen.add(p.uuid);
    state.peers.set(p.uuid, { ...p, groups: new Set(p.groups) });
  }
  // Peers we knew that the node no longer lists left while we were away.
  for (const [id, p] of state.peers) if (!seen.has(id)) p.state = "gone";
  $("self").textContent = `${node.name}  ${node.uuid}  ${node.endpoint}`;
  renderAll();
}

// ---------------------------------------------------------------------------------------------
// Events

function peerOf(ev) {
  let p = state.peers.get(ev.peer);
  if (!p) {
    p = { uuid: ev.peer, name: ev.name, endpoint: "", groups: new Set(), headers: {}, state: "alive" };
    state.peers.set(ev.peer, p);
  }
  return p;
}

function countMessage(group) {
  const now = Date.now();
  let r = state.rates.get(group);
  if (!r) {
    r = { start: now - (now % BUCKET_MS) - (BUCKETS - 1) * BUCKET_MS, counts: new Array(BUCKETS).fill(0) };
    state.rates.set(group, r);
  }
  advance(r, now);
  r.counts[BUCKETS - 1] += 1;
}

function advance(r, now) {
  const shift = Math.floor((now - r.start) / BUCKET_MS) - (BUCKETS - 1);
  if (shift > 0) {
    r.counts = r.counts.slice(Math.min(shift, BUCKETS)).concat(new Array(Math.min(shift, BUCKETS)).fill(0));
    r.start += shift * BUCKET_MS;
  }
}

function onEvent(ev) {
  const p = ev.peer && ev.type !== "READY" ? peerOf(ev) : null;
  switch (ev.type) {
    case "ENTER":
      Object.assign(p, { name: ev.name, endpoint: ev.endpoint, headers: ev.headers, state: "alive", groups: new Set() });
      break;
    case "EXIT": p.state = "gone"; p.groups.clear(); break;
    case "JOIN": p.groups.add(ev.group); p.state = "alive"; break;
    case "LEAVE": p.groups.delete(ev.group); break;
    case "EVASIVE": p.state = "evasive"; break;
    case "SILENT": p.state = "silent"; break;
    case "SHOUT": p.state = "alive"; countMessage(ev.group); break;
    case "WHISPER": p.state = "alive"; break;
    default: break;
  }
  addFeed(ev);
  renderPeers();
  renderGraph();
  renderGroups();
}

function describe(ev) {
  const text = ev.text !== undefined ? JSON.stringify(ev.text) : ev.frames ? `${ev.bytes} bytes` : "";
  switch (ev.type) {
    case "ENTER": return `${ev.name} ${ev.endpoint}`;
    case "EXIT": return `${ev.name} (${ev.reason})`;
    case "JOIN": case "LEAVE": return `${ev.name} ${ev.group}`;
    case "SHOUT": return `${ev.name} → ${ev.group}: ${text}`;
    case "WHISPER": return `${ev.name}: ${text}`;
    case "LEADER": return `${ev.name} leads ${ev.group}`;
    default: return ev.name || "";
  }
}

function addFeed(ev) {
  const t = new Date().toLocaleTimeString();
  const li = el("li", { data: { type: ev.type } },
    el("span", { class: "t" }, t),
    el("span", { class: `badge ${ev.type}` }, ev.type),
    describe(ev));
  const feed = $("feed");
  feed.prepend(li);
  while (feed.children.length > FEED_MAX) feed.lastChild.remove();
}

// ---------------------------------------------------------------------------------------------
// Rendering

function sortedPeers() {
  return [...state.peers.values()].sort((a, b) =>
    (a.state === "gone") - (b.state === "gone") || a.name.localeCompare(b.name));
}

function renderPeers() {
  const list = $("peers");
  list.replaceChildren(...sortedPeers().map((p) => el("li",
    { class: "peer", data: { uuid: p.uuid, name: p.name, state: p.state }, title: p.endpoint },
    el("span", { class: "dot" }),
    el("span", { class: "name" }, p.name),
    el("span", { class: "id" }, p.uuid.slice(0, 6)),
    el("span", { class: "groups" }, [...p.groups].join(", ")),
    el("span", { class: "state" }, p.state))));
  const live = sortedPeers().filter((p) => p.state !== "gone").length;
  $("peer-count").textContent = `${live} present`;
  const sel = $("send-peer");
  const chosen = sel.value;
  sel.replaceChildren(...sortedPeers().filter((p) => p.state !== "gone")
    .map((p) => el("option", { value: p.uuid }, `${p.name} (${p.uuid.slice(0, 6)})`)));
  if (chosen) sel.value = chosen;
}

function allGroups() {
  const groups = new Set(state.ownGroups);
  for (const p of state.peers.values()) if (p.state !== "gone") for (const g of p.groups) groups.add(g);
  for (const g of state.rates.keys()) groups.add(g);
  return [...groups].sort();
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function colour(i) { return `hsl(${(i * 67) % 360} 70% 60%)`; }

function renderGraph() {
  const g = $("graph");
  const W = 600, H = 420, cx = W / 2, cy = H / 2;
  const peers = sortedPeers().filter((p) => p.state !== "gone");
  const groups = allGroups().filter((name) =>
    state.ownGroups.has(name) || peers.some((p) => p.groups.has(name)));
  const pos = new Map();
  if (state.self) pos.set(state.self.uuid, [cx, cy]);
  peers.forEach((p, i) => {
    const a = (2 * Math.PI * i) / Math.max(peers.length, 1) - Math.PI / 2;
    pos.set(p.uuid, [cx + 170 * Math.cos(a), cy + 160 * Math.sin(a)]);
  });
  const gpos = new Map();
  groups.forEach((name, i) => {
    const a = (2 * Math.PI * (i + 0.5)) / Math.max(groups.length, 1) - Math.PI / 2;
    gpos.set(name, [cx + 85 * Math.cos(a), cy + 80 * Math.sin(a)]);
  });
  const items = [];
  // Every node links to every other (ZRE is a full mesh): faint lines from ourselves.
  for (const p of peers) {
    const [x, y] = pos.get(p.uuid);
    items.push(svg("line", { x1: cx, y1: cy, x2: x, y2: y, stroke: "#2a3542", "stroke-width": 1 }));
  }
  // Group membership: coloured lines from members to the group's hub.
  groups.forEach((name, i) => {
    const [gx, gy] = gpos.get(name);
    const members = peers.filter((p) => p.groups.has(name)).map((p) => p.uuid);
    if (state.self && state.ownGroups.has(name)) members.push(state.self.uuid);
    for (const m of members) {
      const [x, y] = pos.get(m);
      items.push(svg("line", { class: "edge", x1: gx, y1: gy, x2: x, y2: y, stroke: colour(i) }));
    }
  });
  groups.forEach((name, i) => {
    const [gx, gy] = gpos.get(name);
    items.push(svg("g", { class: "group", "data-group": name },
      svg("rect", { x: gx - 6, y: gy - 6, width: 12, height: 12, fill: colour(i), transform: `rotate(45 ${gx} ${gy})` }),
      Object.assign(svg("text", { x: gx, y: gy + 20 }), { textContent: name })));
  });
  const node = (uuid, name, st, self) => {
    const [x, y] = pos.get(uuid);
    const fill = { alive: "#3fb950", evasive: "#d29922", silent: "#f0883e" }[st] || "#6e7681";
    return svg("g", { class: "node", "data-uuid": uuid },
      svg("circle", { cx: x, cy: y, r: self ? 16 : 12, fill, stroke: self ? "#58a6ff" : "none", "stroke-width": 3 }),
      Object.assign(svg("text", { x, y: y + (self ? 30 : 26) }), { textContent: self ? `${name} (bridge)` : name }));
  };
  for (const p of peers) items.push(node(p.uuid, p.name, p.state, false));
  if (state.self) items.push(node(state.self.uuid, state.self.name, "alive", true));
  g.replaceChildren(...items);
}

function renderGroups() {
  const now = Date.now();
  const names = allGroups();
  $("group-names").replaceChildren(...names.map((n) => el("option", { value: n })));
  $("groups").replaceChildren(...names.map((name) => {
    const r = state.rates.get(name);
    if (r) advance(r, now);
    const counts = r ? r.counts : new Array(BUCKETS).fill(0);
    const max = Math.max(1, ...counts);
    const points = counts.map((c, i) => `${(i / (BUCKETS - 1)) * 200},${26 - (c / max) * 24}`).join(" ");
    const perSec = (counts[BUCKETS - 1] / (BUCKET_MS / 1000)).toFixed(1);
    const line = svg("svg", { viewBox: "0 0 200 28", preserveAspectRatio: "none" },
      svg("polyline", { points }));
    const joined = state.ownGroups.has(name) ? " ✓" : "";
    return el("li", { data: { group: name } },
      el("span", { class: "gname", title: name }, name + joined),
      el("span", { class: "rate" }, `${perSec}/s`),
      line);
  }));
}

function renderAll() {
  renderPeers();
  renderGraph();
  renderGroups();
}

// ---------------------------------------------------------------------------------------------
// The stream, reconnecting for ever

let source = null;
let retryMs = 500;

function setStatus(s, text) {
  const st = $("status");
  st.dataset.state = s;
  st.textContent = text || s;
}

function connect() {
  if (source) source.close();
  const q = token ? `?access_token=${encodeURIComponent(token)}` : "";
  source = new EventSource(`${API}/events${q}`);
  source.addEventListener("ready", async () => {
    try {
      await loadState();
      retryMs = 500;
      setStatus("live");
    } catch (e) {
      setStatus("reconnecting", `error: ${e.message}`);
    }
  });
  for (const type of ["ENTER", "EXIT", "JOIN", "LEAVE", "WHISPER", "SHOUT", "EVASIVE", "SILENT", "LEADER"]) {
    source.addEventListener(type, (m) => onEvent(JSON.parse(m.data)));
  }
  // The bridge ends the stream with a reason (it stopped, or we fell behind): start again.
  source.addEventListener("close", (m) => {
    const why = JSON.parse(m.data);
    addFeed({ type: "CLOSE", name: `stream closed: ${why.reason}` });
    reconnectLater();
  });
  source.onerror = () => {
    // The browser retries by itself unless the stream failed for good (e.g. 503): then we do.
    setStatus("reconnecting");
    if (source.readyState === EventSource.CLOSED) reconnectLater();
  };
}

function reconnectLater() {
  if (source) source.close();
  setStatus("reconnecting");
  setTimeout(connect, retryMs);
  retryMs = Math.min(retryMs * 2, 5000);
}

// ---------------------------------------------------------------------------------------------
// Sending

function showResult(text, error) {
  const r = $("send-result");
  r.textContent = text;
  r.classList.toggle("error", !!error);
}

$("send-kind").addEventListener("change", () => {
  const whisper = $("send-kind").value === "whisper";
  $("send-group").hidden = whisper;
  $("send-peer").hidden = !whisper;
});

$("send-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = $("send-text").value;
  const whisper = $("send-kind").value === "whisper";
  const target = whisper ? $("send-peer").value : $("send-group").value.trim();
  if (!target) return showResult(whisper ? "choose a peer" : "name a group", true);
  const path = whisper
    ? `/peers/${encodeURIComponent(target)}/messages`
    : `/groups/${encodeURIComponent(target)}/messages`;
  try {
    await api("POST", path, text, "text/plain; charset=utf-8");
    showResult(`sent to ${whisper ? state.peers.get(target)?.name || target : target}`);
    if (!whisper) countMessage(target);
    $("send-text").value = "";
    renderGroups();
  } catch (err) {
    showResult(err.message, true);
  }
});

async function joinOrLeave(method) {
  const g = $("join-group").value.trim();
  if (!g) return showResult("name a group", true);
  try {
    await api(method, `/groups/${encodeURIComponent(g)}`);
    if (method === "PUT") state.ownGroups.add(g); else state.ownGroups.delete(g);
    showResult(`${method === "PUT" ? "joined" : "left"} ${g}`);
    renderAll();
  } catch (err) {
    showResult(err.message, true);
  }
}
$("join-button").addEventListener("click", () => joinOrLeave("PUT"));
$("leave-button").addEventListener("click", () => joinOrLeave("DELETE"));

// The sparklines move with time even when nothing happens.
setInterval(renderGroups, BUCKET_MS);
connect();

// ---------------------------------------------------------------------------------------------
// Logs: the mesh's log records through the bridge's collector. Initial state (the newest
// records of its memory ring and the per-second rates of the last minutes) from
// GET /api/v1/logs on every (re)connection; then only the stream /api/v1/logs/events: a
// `record` event per record and a `rate` event per second (counts per node and level).

const LEVELS = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"];
const LOG_WINDOW = 120;          // seconds in the chart
const LOG_AVG = 5;               // seconds averaged for "now" rates
const LOG_MAX = 200;             // records listed

const logs = {
  rates: new Map(),              // unix second -> Map(node -> {name, counts})
  latest: 0,                     // newest second counted by the bridge
  collector: null,
  source: null,
  retryMs: 500,
  pending: null,                 // records streamed while the initial state loads
};

function setLogStatus(s, text) {
  const st = $("logs-status");
  st.dataset.state = s;
  st.textContent = text || s;
}

function addRate(r) {
  const nodes = new Map();
  for (const n of r.nodes) nodes.set(n.node, { name: n.name, counts: n.counts || {} });
  logs.rates.set(r.t, nodes);
  logs.latest = Math.max(logs.latest, r.t);
  for (const t of logs.rates.keys()) if (t <= logs.latest - LOG_WINDOW) logs.rates.delete(t);
}

function recordItem(r) {
  const time = (r.time || "").slice(11, 23);
  const fields = Object.entries(r.fields || {}).map(([k, v]) => `${k}=${v}`).join(" ");
  return el("li", { class: "rec", data: { level: r.level, node: r.node, name: r.name } },
    el("span", { class: "t" }, time),
    el("span", { class: `lvl ${r.level}` }, r.level),
    el("span", { class: "src", title: `${r.node} ${r.target}` }, r.name),
    el("span", { class: "msg" }, r.message + (fields ? `  ${fields}` : "")));
}

function addRecord(r) {
  const list = $("log-records");
  list.prepend(recordItem(r));
  while (list.children.length > LOG_MAX) list.lastChild.remove();
}

const recordKey = (r) => `${r.node}/${r.level}/${r.seq}`;

async function loadLogs() {
  logs.pending = [];
  let v;
  try {
    v = await api("GET", `/logs?n=${LOG_MAX}`);
  } catch (e) {
    logs.pending = null;
    throw e;
  }
  logs.collector = v.collector;
  for (const r of v.rates) addRate(r);
  $("log-records").replaceChildren(...v.records.slice().reverse().map(recordItem));
  // Records streamed while the ring was read: add those the ring did not have yet.
  const have = new Set(v.records.map(recordKey));
  const pending = logs.pending;
  logs.pending = null;
  for (const r of pending) if (!have.has(recordKey(r))) addRecord(r);
  $("logs-info").textContent =
    `collector ${v.collector.name} · ${v.collector.level} and above · ring of ${v.collector.memory}`;
  renderLogs();
}

/** Per second of the window: counts per level (all nodes). */
function levelSeries() {
  const end = logs.latest || Math.floor(Date.now() / 1000) - 1;
  const out = [];
  for (let t = end - LOG_WINDOW + 1; t <= end; t++) {
    const c = [0, 0, 0, 0, 0];
    const nodes = logs.rates.get(t);
    if (nodes) for (const n of nodes.values()) LEVELS.forEach((l, i) => { c[i] += n.counts[l] || 0; });
    out.push(c);
  }
  return out;
}

function renderLogs() {
  const series = levelSeries();
  const recent = series.slice(-LOG_AVG);
  // Now: records per second per level, averaged over the last seconds.
  $("log-levels").replaceChildren(...LEVELS.map((l, i) => {
    const rate = recent.reduce((s, c) => s + c[i], 0) / LOG_AVG;
    return el("span", { class: `lvl ${l}`, data: { level: l, rate: String(rate) } },
      `${l} ${rate.toFixed(1)}/s`);
  }));
  // The chart: one stacked bar per second, most severe at the bottom.
  const W = 600, H = 96, bw = W / LOG_WINDOW;   // bars above, time labels below (110 high)
  const max = Math.max(1, ...series.map((c) => c.reduce((a, b) => a + b, 0)));
  const bars = [];
  series.forEach((c, x) => {
    let y = H;
    c.forEach((n, i) => {
      if (!n) return;
      const h = (n / max) * (H - 4);
      y -= h;
      bars.push(svg("rect", { class: `bar ${LEVELS[i]}`, x: x * bw, y, width: Math.max(bw - 0.6, 0.5), height: h }));
    });
  });
  // Grid lines every 30 s, the scale at the top left, the time below.
  for (let x = 0; x <= LOG_WINDOW; x += 30) {
    bars.unshift(svg("line", { class: "grid", x1: x * bw, y1: 0, x2: x * bw, y2: H }));
    const label = x === LOG_WINDOW ? "now" : `−${LOG_WINDOW - x} s`;
    const anchor = x === 0 ? "start" : x === LOG_WINDOW ? "end" : "middle";
    bars.push(Object.assign(svg("text", { x: x * bw, y: 108, class: "axis", "text-anchor": anchor }),
      { textContent: label }));
  }
  bars.push(Object.assign(svg("text", { x: 4, y: 10, class: "axis", "text-anchor": "start" }),
    { textContent: `${max}/s` }));
  $("log-chart").replaceChildren(...bars);
  renderLogNodes();
}

function renderLogNodes() {
  const end = logs.latest;
  const nodes = new Map();        // node -> {name, total[], recent[5 levels]}
  for (let t = end - LOG_WINDOW + 1; t <= end; t++) {
    const per = logs.rates.get(t);
    if (!per) continue;
    for (const [id, n] of per) {
      let e = nodes.get(id);
      if (!e) {
        e = { name: n.name, total: new Array(LOG_WINDOW).fill(0), recent: [0, 0, 0, 0, 0] };
        nodes.set(id, e);
      }
      const x = t - (end - LOG_WINDOW + 1);
      LEVELS.forEach((l, i) => {
        const c = n.counts[l] || 0;
        e.total[x] += c;
        if (t > end - LOG_AVG) e.recent[i] += c;
      });
    }
  }
  const rows = [...nodes.entries()].sort((a, b) => a[1].name.localeCompare(b[1].name));
  $("log-nodes").replaceChildren(...rows.map(([id, e]) => {
    const max = Math.max(1, ...e.total);
    const points = e.total.map((c, i) => `${(i / (LOG_WINDOW - 1)) * 200},${26 - (c / max) * 24}`).join(" ");
    const chips = LEVELS.map((l, i) => [l, e.recent[i] / LOG_AVG]).filter(([, r]) => r > 0)
      .map(([l, r]) => el("span", { class: `lvl ${l}`, data: { level: l, rate: String(r) } }, `${l} ${r.toFixed(1)}/s`));
    return el("li", { data: { node: id, name: e.name } },
      el("span", { class: "gname", title: id }, e.name),
      el("span", { class: "chips" }, ...(chips.length ? chips : [el("span", { class: "muted" }, "quiet")])),
      svg("svg", { viewBox: "0 0 200 28", preserveAspectRatio: "none" }, svg("polyline", { points })));
  }));
}

function connectLogs() {
  if (logs.source) logs.source.close();
  const q = token ? `?access_token=${encodeURIComponent(token)}` : "";
  const source = new EventSource(`${API}/logs/events${q}`);
  logs.source = source;
  source.addEventListener("ready", async () => {
    try {
      await loadLogs();
      logs.retryMs = 500;
      setLogStatus("live");
    } catch (e) {
      setLogStatus("reconnecting", `error: ${e.message}`);
    }
  });
  source.addEventListener("record", (m) => {
    const r = JSON.parse(m.data);
    if (logs.pending) logs.pending.push(r); else addRecord(r);
  });
  source.addEventListener("rate", (m) => { addRate(JSON.parse(m.data)); renderLogs(); });
  source.addEventListener("close", () => reconnectLogsLater());
  source.onerror = async () => {
    if (source.readyState !== EventSource.CLOSED) { setLogStatus("reconnecting"); return; }
    // Failed for good: logs may simply be off on this bridge (404).
    try {
      await api("GET", "/logs?n=1");
      reconnectLogsLater();
    } catch (e) {
      if (e.message.startsWith("404")) {
        setLogStatus("off", "off");
        $("logs-info").textContent = "this bridge hosts no log collector (started with --no-logs)";
      } else {
        reconnectLogsLater();
      }
    }
  };
}

function reconnectLogsLater() {
  if (logs.source) logs.source.close();
  setLogStatus("reconnecting");
  setTimeout(connectLogs, logs.retryMs);
  logs.retryMs = Math.min(logs.retryMs * 2, 5000);
}

connectLogs();

// ---------------------------------------------------------------------------------------------
// Timer: the timer service as the bridge's services watcher sees it on the mesh (the timer
// nodes' HELLO headers, the ticks shouted to tick/<rate>hz). Only the stream
// /api/v1/services/events: a `timer` snapshot twice a second, each the whole view. The
// Pipeline panel (below) reads the `pipeline` snapshots of the same stream.

const svcs = { source: null, retryMs: 500 };

function setTimerStatus(s, text) {
  const st = $("timer-status");
  st.dataset.state = s;
  st.textContent = text || s;
}

function us(v) {
  if (v >= 1000) return `${(v / 1000).toFixed(v >= 10000 ? 0 : 1)} ms`;
  return `${Math.round(v)} µs`;
}

function bucketLabel(le) {
  if (le === null) return "more";
  return le >= 1000 ? `${le / 1000}ms` : `${le}µs`;
}

function histogram(r) {
  const buckets = r.lateness.histogram;
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const w = 600 / buckets.length;
  const bars = buckets.map((b, i) => {
    const h = Math.round((b.count / max) * 62);
    const x = i * w;
    const g = svg("g", { class: "bucket", "data-le": b.le_us === null ? "inf" : String(b.le_us),
                         "data-count": String(b.count) },
      svg("rect", { class: "bar", x: x + 3, y: 74 - h, width: w - 6, height: Math.max(h, b.count ? 1 : 0) }),
      svg("text", { class: "axis", x: x + w / 2, y: 86 }, bucketLabel(b.le_us)));
    if (b.count) g.append(svg("text", { class: "count", x: x + w / 2, y: 72 - h }, String(b.count)));
    return g;
  });
  return el("div", { class: "hist", data: { rate: String(r.rate) } },
    el("h3", {}, `${r.rate} Hz `, el("span", { class: "muted" },
      `${r.lateness.count} ticks, mean ${us(r.lateness.mean_us)}`)),
    svg("svg", { viewBox: "0 0 600 90", preserveAspectRatio: "none", role: "img",
                 "aria-label": `lateness histogram of ${r.rate} Hz` }, ...bars));
}

function renderTimer(v) {
  $("timer-info").textContent = `watcher ${v.watcher.name} · ${v.nodes.length} timer node(s)`;
  $("timer-nodes").replaceChildren(...v.nodes.map((n) =>
    el("li", { class: "timer-node", data: { name: n.name, uuid: n.uuid } },
      el("span", { class: "name" }, n.name),
      el("span", { class: "rates" }, n.rates.map((r) => `${r} Hz`).join(", ")))));
  $("timer-rates").querySelector("tbody").replaceChildren(...v.rates.map((r) => {
    const who = r.ticker
      ? el("td", { class: "ticker", data: { name: r.ticker.name } }, r.ticker.name)
      : el("td", { class: "none" }, "nobody");
    const l = r.lateness;
    return el("tr", { class: "rate", data: { rate: String(r.rate), received: String(r.ticks.received),
                                             ticker: r.ticker ? r.ticker.name : "" } },
      el("td", {}, `${r.rate} Hz`), who,
      el("td", {}, `${r.measured_hz}/s`),
      el("td", { class: "received" }, String(r.ticks.received)),
      el("td", { class: "missed", data: { missed: String(r.ticks.missed) } },
        `${r.ticks.missed}${r.ticks.gaps ? ` in ${r.ticks.gaps} gap(s)` : ""}`),
      el("td", {}, l.count ? `${us(l.p50_us)} / ${us(l.p99_us)} / ${us(l.max_us)}` : "–"));
  }));
  $("timer-hists").replaceChildren(...v.rates.filter((r) => r.lateness.count).map(histogram));
}

function connectServices() {
  if (svcs.source) svcs.source.close();
  const q = token ? `?access_token=${encodeURIComponent(token)}` : "";
  const source = new EventSource(`${API}/services/events${q}`);
  svcs.source = source;
  source.addEventListener("ready", () => {
    svcs.retryMs = 500;
    setTimerStatus("live");
    setPipelineStatus("live");
  });
  source.addEventListener("timer", (m) => renderTimer(JSON.parse(m.data)));
  source.addEventListener("pipeline", (m) => renderPipeline(JSON.parse(m.data)));
  source.addEventListener("close", () => reconnectServicesLater());
  source.onerror = async () => {
    if (source.readyState !== EventSource.CLOSED) {
      setTimerStatus("reconnecting");
      setPipelineStatus("reconnecting");
      return;
    }
    try {
      await api("GET", "/services/timer");
      reconnectServicesLater();
    } catch (e) {
      if (e.message.startsWith("404")) {
        const off = "this bridge hosts no services watcher (started with --no-services)";
        setTimerStatus("off", "off");
        $("timer-info").textContent = off;
        setPipelineStatus("off", "off");
        $("pipeline-info").textContent = off;
      } else {
        reconnectServicesLater();
      }
    }
  };
}

function reconnectServicesLater() {
  if (svcs.source) svcs.source.close();
  setTimerStatus("reconnecting");
  setPipelineStatus("reconnecting");
  setTimeout(connectServices, svcs.retryMs);
  svcs.retryMs = Math.min(svcs.retryMs * 2, 5000);
}

connectServices();

// ---------------------------------------------------------------------------------------------
// Pipeline: the reliable pipeline as the services watcher sees it: its roles from their HELLO
// headers, what they report to pipeline/<cluster>/status (the watcher joins it; roles report
// only while someone watches, at most twice a second). Per cluster: the batches with progress
// bars (done, at the collector, at workers, pending), the workers with their throughput
// (tasks/s over 5 s, and a sparkline of the last minute of snapshots), the re-deals.

const PL_SPARK = 120;                 // snapshots kept per worker: a minute at 2 a second
const plHistory = new Map();          // worker uuid -> [tasks/s, ...]

function setPipelineStatus(s, text) {
  const st = $("pipeline-status");
  st.dataset.state = s;
  st.textContent = text || s;
}

function rate(r) {
  return r >= 100 ? `${Math.round(r)}/s` : `${r.toFixed(1)}/s`;
}

function pct(n, total) {
  return total > 0 ? `${(100 * n) / total}%` : "0%";
}

function progressBar(b) {
  const seg = (cls, n, what) => el("span", { class: `seg ${cls}`, style: `width: ${pct(n, b.total)}`,
                                             title: `${n} ${what}` });
  return el("div", { class: "pbar", role: "progressbar", "aria-valuemin": "0",
                     "aria-valuemax": String(b.total), "aria-valuenow": String(b.done) },
    seg("done", b.done, "done"), seg("collector", b.at_collector, "at the collector"),
    seg("workers", b.at_workers, "at workers"));
}

function batchItem(b) {
  const secs = b.elapsed_s >= 10 ? b.elapsed_s.toFixed(0) : b.elapsed_s.toFixed(1);
  return el("li", { class: "batch", data: { id: b.id, state: b.state, done: String(b.done),
                                            total: String(b.total), redealt: String(b.redealt) } },
    el("div", { class: "batch-head" },
      el("span", { class: "bid", title: b.id }, b.id.slice(0, 8)),
      el("span", { class: `bstate ${b.state}` }, b.state),
      el("span", { class: "client" }, `from ${b.client.name}`),
      el("span", { class: "when" }, `${secs} s`),
      b.state === "running" ? el("span", { class: "rate" }, rate(b.tasks_per_s)) : "",
      el("span", { class: "redealt", data: { count: String(b.redealt) } }, `re-dealt ${b.redealt}`),
      el("span", { class: "nums" }, `${b.done} / ${b.total}`)),
    progressBar(b));
}

function spark(values) {
  const max = Math.max(1, ...values);
  const n = values.length;
  const points = values.map((v, i) => `${n > 1 ? (i / (n - 1)) * 200 : 200},${20 - (v / max) * 18}`).join(" ");
  return svg("svg", { viewBox: "0 0 200 22", preserveAspectRatio: "none" }, svg("polyline", { points }));
}

function workerRow(w) {
  let h = plHistory.get(w.uuid);
  if (!h) { h = []; plHistory.set(w.uuid, h); }
  h.push(w.tasks_per_s);
  if (h.length > PL_SPARK) h.shift();
  const state = w.gone ? "gone" : w.reported ? `holds ${w.held}` : "not reporting";
  return el("tr", { class: "worker", data: { name: w.name, uuid: w.uuid, done: String(w.done),
                                             rate: String(w.tasks_per_s), gone: String(w.gone) } },
    el("td", { class: "name", title: w.uuid }, w.name),
    el("td", { class: "num done" }, String(w.done)),
    el("td", { class: "num rate" }, rate(w.tasks_per_s)),
    el("td", { class: "state" }, state),
    el("td", { class: "spark" }, spark(h)));
}

function otherItem(role, n) {
  const what = role === "client"
    ? `${n.done} delivered, ${n.in_flight} at workers, ${n.redealt} re-dealt`
    : `${n.done} forwarded, ${n.duplicates} duplicates dropped, ${n.open_batches} open batch(es)`;
  return el("li", { class: role, data: { name: n.name, uuid: n.uuid, gone: String(n.gone) } },
    el("span", { class: "role" }, role),
    el("span", { class: "name" }, n.name), " ",
    el("span", { class: "muted" }, n.gone ? "gone" : n.reported ? what : "not reporting"));
}

function clusterPanel(c) {
  const live = c.workers.filter((w) => !w.gone).length;
  const running = c.batches.filter((b) => b.state === "running").length;
  return el("div", { class: "pl-cluster", data: { cluster: c.cluster } },
    el("h3", {}, `cluster ${c.cluster} `,
      el("span", { class: "muted" },
        `${live} worker(s) · ${rate(c.tasks_per_s)} · ${running} batch(es) in flight · `),
      el("span", { class: "redeals", data: { count: String(c.redealt) } }, `${c.redealt} re-deal(s)`)),
    el("div", { class: "pipeline-grid" },
      el("div", {},
        el("h3", {}, "Batches ", el("span", { class: "muted" }, "in flight first, then the newest that ended")),
        c.batches.length
          ? el("ul", { class: "pl-batches" }, ...c.batches.map(batchItem))
          : el("p", { class: "muted" }, "no batch yet"),
        el("p", { class: "pl-legend" }, el("i", { class: "done" }), "done",
          el("i", { class: "collector" }), "at the collector", el("i", { class: "workers" }), "at workers",
          el("i", { class: "pending" }), "pending")),
      el("div", {},
        el("h3", {}, "Workers ", el("span", { class: "muted" }, "tasks done, tasks/s over 5 s, the last minute")),
        el("table", { class: "pl-workers" },
          el("thead", {}, el("tr", {}, el("th", {}, "worker"), el("th", {}, "done"), el("th", {}, "tasks/s"),
            el("th", {}, ""), el("th", {}, "throughput"))),
          el("tbody", {}, ...c.workers.map(workerRow))),
        el("h3", {}, "Clients and collectors"),
        el("ul", { class: "pl-others" }, ...c.clients.map((n) => otherItem("client", n)),
          ...c.collectors.map((n) => otherItem("collector", n))))));
}

function renderPipeline(v) {
  const workers = v.clusters.reduce((n, c) => n + c.workers.filter((w) => !w.gone).length, 0);
  $("pipeline-info").textContent = `watcher ${v.watcher.name} · ${v.clusters.length} cluster(s) · ${workers} worker(s)`;
  const seen = new Set(v.clusters.flatMap((c) => c.workers.map((w) => w.uuid)));
  for (const id of plHistory.keys()) if (!seen.has(id)) plHistory.delete(id);
  $("pipeline-clusters").replaceChildren(...(v.clusters.length
    ? v.clusters.map(clusterPanel)
    : [el("p", { class: "muted", id: "pipeline-empty" }, "no pipeline on the mesh")]));
}
