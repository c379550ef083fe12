// Browser test of the ryre dashboard: Debian's chromium, headless, driven by playwright-core.
// Real processes on loopback only: `ryre bridge`, a second `ryre node`, `ryre log emit`,
// `ryre timer serve` and a pipeline (`ryre pipeline collect`, three `ryre pipeline worker`,
// `ryre pipeline run`) and an HTTPS bridge (`--tls-self-signed`), with an OS-chosen UDP beacon port and an OS-chosen HTTP port. Every wait
// is bounded; every child is killed on exit.
//
// Environment: RYRE_BIN (the ryre binary), PLAYWRIGHT_DIR (where playwright-core is installed),
// CHROMIUM (default /usr/bin/chromium), SCREENSHOT_DIR (default target).
"use strict";

const { spawn } = require("node:child_process");
const dgram = require("node:dgram");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const readline = require("node:readline");

const RYRE = process.env.RYRE_BIN || path.resolve(__dirname, "../../target/debug/ryre");
const PW_DIR = process.env.PLAYWRIGHT_DIR || path.resolve(__dirname, "../../target/browser-node");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SHOTS = process.env.SCREENSHOT_DIR || path.resolve(__dirname, "../../target");
const WAIT = 20_000;

const { chromium } = require(require.resolve("playwright-core", { paths: [PW_DIR] }));

const children = new Set();
function killAll() {
  for (const c of children) {
    try { c.kill("SIGKILL"); } catch (_) { /* already gone */ }
  }
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => { killAll(); process.exit(1); });
// The whole test is bounded too.
const watchdog = setTimeout(() => { console.error("browser test: timed out after 200 s"); killAll(); process.exit(1); }, 200_000);

/** A child process whose stdout lines are collected and can be waited for. */
class Proc {
  constructor(label, args) {
    this.label = label;
    this.lines = [];
    this.waiters = [];
    this.child = spawn(RYRE, args, { stdio: ["pipe", "pipe", "pipe"] });
    children.add(this.child);
    this.exited = new Promise((resolve) => this.child.on("exit", (code, sig) => {
      children.delete(this.child);
      resolve({ code, sig });
    }));
    readline.createInterface({ input: this.child.stdout }).on("line", (line) => {
      this.lines.push(line);
      this.waiters = this.waiters.filter((w) => !w(line));
    });
    this.stderr = "";
    this.child.stderr.on("data", (d) => { this.stderr += d; });
  }

  /** Waits for a stdout line whose JSON matches `pred`. */
  expectJson(what, pred, ms = WAIT) {
    const test = (line) => { try { return pred(JSON.parse(line)); } catch (_) { return false; } };
    const found = this.lines.find(test);
    if (found) return Promise.resolve(JSON.parse(found));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(
        `${this.label}: no ${what} within ${ms} ms; stdout:\n${this.lines.slice(-20).join("\n")}\nstderr:\n${this.stderr}`)), ms);
      this.waiters.push((line) => {
        if (!test(line)) return false;
        clearTimeout(timer);
        resolve(JSON.parse(line));
        return true;
      });
    });
  }

  send(line) { this.child.stdin.write(line + "\n"); }

  async stop(ms = WAIT) {
    this.child.kill("SIGTERM");
    let t;
    const timer = new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`${this.label} did not exit`)), ms);
    });
    try {
      return await Promise.race([this.exited, timer]);
    } finally {
      clearTimeout(t);
    }
  }
}

function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket("udp4");
    s.on("error", reject);
    s.bind(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

function startBridge(port, listen) {
  return new Proc("bridge", ["bridge", "--json", "--listen", listen, "--interface", "lo",
    "--port", String(port), "--interval", "100", "--name", "web", "--join", "chat"]);
}

// Scrolls the element to view for a screenshot, in one step inside the page: the live panels
// re-render their elements many times a second, so a locator's element can be replaced between
// Playwright resolving it and scrolling to it ("Element is not attached to the DOM", seen in CI).
async function scrollTo(page, sel) {
  await page.waitForSelector(sel);
  await page.evaluate((s) => { const e = document.querySelector(s); if (e) e.scrollIntoView({ block: "nearest" }); }, sel);
}

let passed = 0;
async function step(name, fn) {
  const t = Date.now();
  await fn();
  passed += 1;
  console.log(`ok - ${name} (${Date.now() - t} ms)`);
}

(async () => {
  const port = await freeUdpPort();
  let bridge = startBridge(port, "127.0.0.1:0");
  const listening = await bridge.expectJson("LISTENING", (v) => v.event === "LISTENING");
  const url = listening.url;
  console.log(`bridge at ${url}, beacon port ${port}`);

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu"],
    timeout: WAIT,
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(WAIT);
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));

    await step("the dashboard loads and goes live", async () => {
      await page.goto(url);
      await page.waitForSelector('#status[data-state="live"]');
      const self = await page.textContent("#self");
      if (!self.includes("web")) throw new Error(`own node not shown: ${self}`);
    });

    let peer;
    let peerId;
    await step("a peer appears when a second node starts", async () => {
      peer = new Proc("peer", ["node", "--json", "--interface", "lo", "--port", String(port),
        "--interval", "100", "--name", "browser-peer", "--join", "chat"]);
      peerId = (await peer.expectJson("STARTED", (v) => v.event === "STARTED")).peer;
      await page.waitForSelector('.peer[data-name="browser-peer"][data-state="alive"]');
      await page.waitForSelector('#graph .node text >> text=browser-peer');
      // Its JOIN arrived too: the bridge knows it is in chat.
      await page.waitForSelector('.peer[data-name="browser-peer"] .groups:has-text("chat")');
      await page.waitForSelector('#groups li[data-group="chat"]');
      // The page learnt about the peer from the stream (an ENTER in the feed), not a reload.
      await page.waitForSelector('#feed li[data-type="ENTER"]');
    });

    await step("a shout from the page arrives at the node", async () => {
      const text = `hello from the browser ${Date.now()}`;
      await page.selectOption("#send-kind", "shout");
      await page.fill("#send-group", "chat");
      await page.fill("#send-text", text);
      await page.click("#send-button");
      const got = await peer.expectJson("the SHOUT", (v) => v.event === "SHOUT" && v.content === text);
      if (got.group !== "chat") throw new Error(`shout arrived in ${got.group}`);
      await page.waitForSelector("#send-result >> text=sent to chat");
    });

    await step("a whisper from the page arrives at the node", async () => {
      const text = `psst ${Date.now()}`;
      await page.selectOption("#send-kind", "whisper");
      await page.waitForSelector('#send-peer option:has-text("browser-peer")', { state: "attached" });
      // The bridge's log collector (web-logs) is a peer too: choose ours.
      await page.selectOption("#send-peer", peerId);
      await page.fill("#send-text", text);
      await page.click("#send-button");
      await peer.expectJson("the WHISPER", (v) => v.event === "WHISPER" && v.content === text);
    });

    await step("the node's shout shows in the live feed", async () => {
      peer.send("shout chat hi from the node");
      await page.waitForSelector('#feed li[data-type="SHOUT"] >> text=hi from the node');
    });

    await page.screenshot({ path: path.join(SHOTS, "dashboard.png"), fullPage: true });

    await step("the Logs panel shows records and a live WARN rate from `ryre log emit`", async () => {
      await page.waitForSelector('#logs-status[data-state="live"]');
      const emitter = new Proc("emit", ["log", "emit", "--interface", "lo", "--port", String(port),
        "--interval", "100", "--name", "log-emitter", "--level", "warn", "--rate", "50"]);
      try {
        // The records arrive through the bridge's collector and its stream.
        await page.waitForSelector('#log-records li[data-level="WARN"][data-name="log-emitter"]');
        // The per-second counts come as `rate` events: the WARN rate turns non-zero, for the
        // mesh and for this node.
        await page.waitForFunction(() => {
          const w = document.querySelector('#log-levels [data-level="WARN"]');
          return w && Number(w.dataset.rate) > 0;
        });
        await page.waitForSelector('#log-nodes li[data-name="log-emitter"] [data-level="WARN"]');
        await page.waitForSelector("#log-chart rect.bar.WARN", { state: "attached" });
        // Let the chart fill for a few seconds of rates, then look at it.
        await page.waitForFunction(() =>
          document.querySelectorAll("#log-chart rect.bar.WARN").length >= 3);
        const rate = Number(await page.getAttribute('#log-levels [data-level="WARN"]', "data-rate"));
        if (!(rate > 0 && rate <= 60)) throw new Error(`WARN rate ${rate}/s for an emitter at 50/s`);
        const n = await page.locator('#log-records li[data-level="WARN"]').count();
        if (n < 2) throw new Error(`only ${n} WARN records listed`);
        await page.screenshot({ path: path.join(SHOTS, "dashboard-logs.png"), fullPage: true });
      } finally {
        await emitter.stop().catch(() => emitter.child.kill("SIGKILL"));
      }
    });

    await step("the Timer panel shows a real timer node: its rates, who ticks, the lateness histogram", async () => {
      await page.waitForSelector('#timer-status[data-state="live"]');
      const timer = new Proc("timer", ["timer", "serve", "--interface", "lo", "--port", String(port),
        "--interval", "100", "--name", "browser-timer", "--rates", "10,50", "--no-wakeups"]);
      try {
        // The timer node, from its HELLO header, with both rates.
        await page.waitForSelector('#timer-nodes li[data-name="browser-timer"] >> text=10 Hz, 50 Hz');
        // 50 Hz is ticked by it, and its ticks keep coming (counted by the bridge's watcher).
        await page.waitForSelector('#timer-rates tr[data-rate="50"][data-ticker="browser-timer"]');
        await page.waitForFunction(() => {
          const r = document.querySelector('#timer-rates tr[data-rate="50"]');
          return r && Number(r.dataset.received) >= 50;
        });
        await page.waitForSelector('#timer-rates tr[data-rate="10"] td.ticker >> text=browser-timer');
        // The lateness histogram of 50 Hz has bars, and its counts add up to the ticks counted.
        await page.waitForSelector('#timer-hists .hist[data-rate="50"] .bucket:not([data-count="0"]) rect.bar');
        const sums = await page.evaluate(() => {
          const buckets = [...document.querySelectorAll('#timer-hists .hist[data-rate="50"] .bucket')];
          const counts = buckets.map((b) => Number(b.dataset.count));
          const bars = buckets.filter((b) => Number(b.querySelector("rect").getAttribute("height")) > 0);
          return { total: counts.reduce((a, b) => a + b, 0), bars: bars.length, buckets: buckets.length };
        });
        if (sums.buckets !== 13) throw new Error(`${sums.buckets} buckets, expected 12 and overflow`);
        if (sums.bars < 1 || sums.total < 50) throw new Error(`histogram: ${JSON.stringify(sums)}`);
        await scrollTo(page, "#timer-hists");
        await page.screenshot({ path: path.join(SHOTS, "dashboard-timer.png"), fullPage: true });
      } finally {
        await timer.stop().catch(() => timer.child.kill("SIGKILL"));
      }
      // Gone from the mesh: nobody ticks its rates any more.
      await page.waitForSelector('#timer-rates tr[data-rate="50"][data-ticker=""] td.none');
      await page.waitForFunction(() => !document.querySelector('#timer-nodes li[data-name="browser-timer"]'));
    });

    await step("the Pipeline panel shows a real pipeline: a batch progressing to done, workers with their throughput, re-deals", async () => {
      await page.waitForSelector('#pipeline-status[data-state="live"]');
      const net = ["--interface", "lo", "--port", String(port), "--interval", "100", "--cluster", "browser"];
      const cluster = '#pipeline-clusters .pl-cluster[data-cluster="browser"]';
      const procs = [];
      try {
        procs.push(new Proc("collector", ["pipeline", "collect", ...net]));
        // Three workers of 100 tasks/s each (10 ms a task), holding at most 8 tasks at a time.
        const workers = [1, 2, 3].map((i) => new Proc(`worker${i}`,
          ["pipeline", "worker", ...net, "--echo", "--delay", "10", "--window", "8"]));
        procs.push(...workers);
        // The workers, from their HELLO headers, reporting since the watcher joined the
        // cluster's status group.
        await page.waitForFunction((sel) =>
          document.querySelectorAll(`${sel} tr.worker[data-gone="false"]`).length === 3, cluster);
        const tasks = 900;
        const input = path.join(os.tmpdir(), `ryre-browser-tasks-${process.pid}.txt`);
        fs.writeFileSync(input, Array.from({ length: tasks }, (_, i) => `task-${i}`).join("\n") + "\n");
        const run = new Proc("run", ["pipeline", "run", ...net, "--input", input, "--no-progress",
          "--timeout", "90", "--task-timeout", "1000"]);
        procs.push(run);
        // The batch in flight: a progress bar part way, its numbers moving.
        const batch = `${cluster} li.batch`;
        await page.waitForFunction((sel) => {
          const b = document.querySelector(`${sel}[data-state="running"]`);
          return b && Number(b.dataset.done) > 0 && Number(b.dataset.done) < Number(b.dataset.total) / 2;
        }, batch);
        const first = Number(await page.getAttribute(`${batch}[data-state="running"]`, "data-done"));
        const width = await page.evaluate((sel) => {
          const b = document.querySelector(`${sel}[data-state="running"]`);
          const bar = b.querySelector(".pbar").getBoundingClientRect().width;
          return b.querySelector(".pbar .seg.done").getBoundingClientRect().width / bar;
        }, batch);
        if (!(width > 0 && width < 0.5)) throw new Error(`the done part of the bar is ${width} of it`);
        await page.waitForFunction(([sel, n]) => {
          const b = document.querySelector(`${sel}[data-state="running"]`);
          return b && Number(b.dataset.done) > n;
        }, [batch, first]);
        // Workers busy: a throughput above 0 for each, shown as text and a sparkline.
        await page.waitForFunction((sel) => {
          const rows = [...document.querySelectorAll(`${sel} tr.worker[data-gone="false"]`)];
          return rows.length === 3 && rows.every((r) => Number(r.dataset.rate) > 0);
        }, cluster);
        await scrollTo(page, cluster);
        await page.screenshot({ path: path.join(SHOTS, "dashboard-pipeline-running.png"), fullPage: true });
        // kill -9 one worker mid-batch: the client deals its tasks again; the panel counts the
        // re-deals.
        workers[2].child.kill("SIGKILL");
        await page.waitForFunction((sel) => {
          const r = document.querySelector(`${sel} .redeals`);
          return r && Number(r.dataset.count) > 0;
        }, cluster);
        // The batch runs to done: every task, the bar full.
        await page.waitForSelector(`${batch}[data-state="done"][data-done="${tasks}"][data-total="${tasks}"]`, { timeout: 60_000 });
        const full = await page.evaluate((sel) => {
          const b = document.querySelector(`${sel}[data-state="done"]`);
          return b.querySelector(".pbar .seg.done").getBoundingClientRect().width
            / b.querySelector(".pbar").getBoundingClientRect().width;
        }, batch);
        if (Math.abs(full - 1) > 0.01) throw new Error(`a done batch's bar is ${full} full`);
        const out = await run.exited;
        if (out.code !== 0) throw new Error(`ryre pipeline run exited ${out.code}: ${run.stderr}`);
        if (run.lines.length !== tasks || run.lines[tasks - 1] !== `task-${tasks - 1}`) {
          throw new Error(`ryre pipeline run printed ${run.lines.length} results`);
        }
        // The two workers left did the work and show it: tasks done, a throughput.
        const rows = await page.evaluate((sel) =>
          [...document.querySelectorAll(`${sel} tr.worker`)].map((r) => ({ ...r.dataset })), cluster);
        const busy = rows.filter((r) => Number(r.done) > 100 && Number(r.rate) > 0);
        if (busy.length < 2) throw new Error(`workers: ${JSON.stringify(rows)}`);
        const redeals = Number(await page.getAttribute(`${cluster} .redeals`, "data-count"));
        console.log(`   pipeline: ${tasks} tasks done, ${redeals} re-dealt, workers ${rows.map((r) => `${r.name} ${r.done} at ${Number(r.rate).toFixed(0)}/s`).join(", ")}`);
        await scrollTo(page, cluster);
        await page.screenshot({ path: path.join(SHOTS, "dashboard-pipeline.png"), fullPage: true });
        fs.rmSync(input, { force: true });
      } finally {
        for (const p of procs) await p.stop().catch(() => p.child.kill("SIGKILL"));
      }
    });

    await step("the peer turns gone when it stops", async () => {
      peer.send("stop");
      await peer.exited;
      await page.waitForSelector('.peer[data-name="browser-peer"][data-state="gone"]');
      await page.waitForSelector('#feed li[data-type="EXIT"]');
    });
    await page.screenshot({ path: path.join(SHOTS, "dashboard-gone.png"), fullPage: true });

    await step("the page reconnects when the bridge restarts", async () => {
      const before = await page.textContent("#self");
      await bridge.stop();
      await page.waitForSelector('#status[data-state="reconnecting"]');
      bridge = startBridge(port, listening.url.replace(/^http:\/\//, "").replace(/\/$/, ""));
      await bridge.expectJson("LISTENING again", (v) => v.event === "LISTENING");
      await page.waitForSelector('#status[data-state="live"]');
      const after = await page.textContent("#self");
      if (after === before) throw new Error("the page still shows the old node");
      // The Logs, Timer and Pipeline panels reconnect too.
      await page.waitForSelector('#logs-status[data-state="live"]');
      await page.waitForSelector('#timer-status[data-state="live"]');
      await page.waitForSelector('#pipeline-status[data-state="live"]');
    });

    await step("a bridge started with --no-logs --no-services shows the Logs, Timer and Pipeline panels as off", async () => {
      const plain = new Proc("bridge-no-logs", ["bridge", "--json", "--listen", "127.0.0.1:0",
        "--interface", "lo", "--port", String(await freeUdpPort()), "--interval", "100",
        "--name", "plain", "--no-logs", "--no-services"]);
      try {
        const l = await plain.expectJson("LISTENING", (v) => v.event === "LISTENING");
        const other = await browser.newPage();
        other.setDefaultTimeout(WAIT);
        other.on("pageerror", (e) => pageErrors.push(String(e)));
        await other.goto(l.url);
        await other.waitForSelector('#status[data-state="live"]');
        await other.waitForSelector('#logs-status[data-state="off"]');
        await other.waitForSelector('#timer-status[data-state="off"]');
        await other.waitForSelector('#pipeline-status[data-state="off"]');
        await other.close();
      } finally {
        await plain.stop().catch(() => plain.child.kill("SIGKILL"));
      }
    });

    await step("over HTTPS (--tls-self-signed, --token) the dashboard goes live in a browser pinning the printed key, and its shout arrives; an unpinned browser refuses the certificate", async () => {
      const tlsPort = await freeUdpPort();
      const secure = new Proc("bridge-tls", ["bridge", "--json", "--listen", "127.0.0.1:0",
        "--interface", "lo", "--port", String(tlsPort), "--interval", "100", "--name", "secure",
        "--no-logs", "--no-services", "--tls-self-signed", "--token", "br0wser", "--join", "chat"]);
      const tlsPeer = new Proc("tls-peer", ["node", "--json", "--interface", "lo", "--port",
        String(tlsPort), "--interval", "100", "--name", "tls-peer", "--join", "chat"]);
      let pinned;
      try {
        const l = await secure.expectJson("LISTENING", (v) => v.event === "LISTENING");
        if (!l.url.startsWith("https://")) throw new Error(`not an https URL: ${l.url}`);
        // The first browser trusts nothing extra: the self-signed certificate is refused.
        const unpinned = await browser.newPage();
        let refused = "";
        try {
          await unpinned.goto(l.url, { timeout: WAIT });
        } catch (e) {
          refused = String(e);
        } finally {
          await unpinned.close();
        }
        if (!refused.includes("ERR_CERT")) throw new Error(`an unpinned browser loaded the page: ${refused}`);
        // A browser pinning the public key the bridge printed.
        pinned = await chromium.launch({
          executablePath: CHROMIUM,
          args: ["--headless", "--no-sandbox", "--disable-gpu",
            `--ignore-certificate-errors-spki-list=${l.tls.spki_sha256}`],
          timeout: WAIT,
        });
        const tp = await pinned.newPage({ viewport: { width: 1400, height: 900 } });
        tp.setDefaultTimeout(WAIT);
        tp.on("pageerror", (e) => pageErrors.push(String(e)));
        await tp.goto(`${l.url}#token=br0wser`);
        await tp.waitForSelector('#status[data-state="live"]');
        const self = await tp.textContent("#self");
        if (!self.includes("secure")) throw new Error(`own node not shown: ${self}`);
        await tlsPeer.expectJson("STARTED", (v) => v.event === "STARTED");
        await tp.waitForSelector('.peer[data-name="tls-peer"] .groups:has-text("chat")');
        const text = `over https ${Date.now()}`;
        await tp.selectOption("#send-kind", "shout");
        await tp.fill("#send-group", "chat");
        await tp.fill("#send-text", text);
        await tp.click("#send-button");
        await tlsPeer.expectJson("the SHOUT", (v) => v.event === "SHOUT" && v.content === text);
        await tp.screenshot({ path: path.join(SHOTS, "dashboard-https.png") });
      } finally {
        if (pinned) await pinned.close();
        await tlsPeer.stop().catch(() => tlsPeer.child.kill("SIGKILL"));
        await secure.stop().catch(() => secure.child.kill("SIGKILL"));
      }
    });

    if (pageErrors.length) throw new Error(`errors in the page: ${pageErrors.join("; ")}`);
  } finally {
    await browser.close();
    await bridge.stop().catch(() => {});
  }
  clearTimeout(watchdog);
  console.log(`screenshots: ${path.join(SHOTS, "dashboard.png")}, dashboard-logs.png, dashboard-timer.png, dashboard-pipeline-running.png, dashboard-pipeline.png, dashboard-gone.png, dashboard-https.png`);
  console.log(`${passed} passed, 0 failed`);
  process.exit(0);
})().catch((e) => {
  console.error(`not ok - ${e.stack || e}`);
  console.log(`${passed} passed, 1 failed`);
  killAll();
  process.exit(1);
});
