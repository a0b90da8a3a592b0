// The operator's screen: draws the view the station pushes (server-sent events) and sends what
// people do. Tiles are built once and updated in place, so a half-typed scan is never lost.
"use strict";

const token = new URLSearchParams(location.search).get("token");
const withToken = (path) => token ? `${path}?token=${encodeURIComponent(token)}` : path;
let operator = sessionStorage.getItem("rigor-operator") || "";
const tiles = new Map();
let lastView = null;

const WORDS = {
  "ready": "READY",
  "running": "TESTING",
  "pass": "PASS",
  "fail": "FAIL",
  "rig-problem": "RIG PROBLEM",
  "aborted": "ABORTED",
  "repair": "SEND TO REPAIR",
  "refused": "NOT STARTED",
};

async function api(path, body) {
  const headers = { "content-type": "application/json" };
  if (token) headers["x-rigor-token"] = token;
  const response = await fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
  if (!response.ok) {
    const answer = await response.json().catch(() => ({ error: response.statusText }));
    throw new Error(answer.error || response.statusText);
  }
}

function $(root, selector) { return root.querySelector(selector); }

function setOperator(id) {
  operator = id;
  sessionStorage.setItem("rigor-operator", id);
  document.getElementById("operator-label").textContent = id ? `Operator ${id}` : "no operator";
  document.getElementById("sign-out").hidden = !id;
  document.getElementById("badge").hidden = !!id;
  if (id) focusNext(); else document.getElementById("badge-input").focus({ preventScroll: true });
}

// The next place a scanner's keystrokes should land: a waiting question first, else the first
// slot ready for a unit. Never steals focus from a field someone is typing in.
function focusNext() {
  const active = document.activeElement;
  if (active && active.tagName === "INPUT" && active.value && active.offsetParent) return;
  if (!document.getElementById("tech").hidden || !document.getElementById("badge").hidden) return;
  for (const t of tiles.values()) {
    const p = $(t, ".prompt");
    if (!p.hidden) {
      const input = $(p, ".prompt-input");
      if (!input.hidden) { input.focus({ preventScroll: true }); return; }
      const first = $(p, ".choices button");
      if (first) { first.focus({ preventScroll: true }); return; }
    }
  }
  if (active && active.classList && active.classList.contains("scan") && active.offsetParent) return;
  for (const t of tiles.values()) {
    const scan = $(t, ".scan");
    if (scan.offsetParent && !scan.disabled) { scan.focus({ preventScroll: true }); return; }
  }
}

function buildTile(slot) {
  const node = document.getElementById("tile-template").content.firstElementChild.cloneNode(true);
  node.id = `tile-${slot}`;
  node.dataset.slot = slot;
  $(node, ".slot").textContent = slot;
  $(node, ".scan-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $(node, ".scan");
    const serial = input.value.trim();
    if (!serial) return;
    if (!operator) { setOperator(""); return; }
    input.value = "";
    $(node, ".error").textContent = "";
    try {
      await api("/api/scan", { slot, operator, serial });
    } catch (err) {
      $(node, ".error").textContent = err.message;
    }
  });
  $(node, ".abort").addEventListener("click", async () => {
    try {
      await api("/api/abort", { slot, person: operator || "unknown" });
    } catch (err) {
      $(node, ".error").textContent = err.message;
    }
  });
  $(node, ".prompt").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $(node, ".prompt-input");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    try {
      await api("/api/answer", { slot, text });
    } catch (err) {
      $(node, ".prompt-refused").textContent = err.message;
    }
  });
  document.getElementById("tiles").appendChild(node);
  const option = document.createElement("option");
  option.value = slot;
  option.textContent = slot;
  document.getElementById("tech-slot").appendChild(option);
  tiles.set(slot, node);
  return node;
}

function seconds(s) {
  if (s == null) return "–";
  return s >= 60 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${s.toFixed(1)} s`;
}

function renderTile(node, v) {
  node.dataset.phase = v.phase;
  node.dataset.cycle = v.cycle;
  $(node, ".status-word").textContent = WORDS[v.phase] || v.phase.toUpperCase();
  $(node, ".unit").textContent = v.unit || "";
  $(node, ".generation").textContent = v.generation || "";
  $(node, ".reason").textContent = v.reason || (v.phase === "ready" ? "Scan the unit's label" : "");
  const running = v.phase === "running";
  $(node, ".scenario").textContent = running && v.scenario
    ? `${v.scenario}${v.scenario_place ? ` (${v.scenario_place})` : ""}${v.attempt ? `, attempt ${v.attempt}` : ""}`
    : "";
  $(node, ".step").textContent = running && v.step ? `step: ${v.step}` : "";
  const elapsed = $(node, ".elapsed");
  elapsed.dataset.started = running && v.started_ms ? v.started_ms : "";
  if (!running) elapsed.textContent = v.took_seconds != null ? `took ${seconds(v.took_seconds)}` : "";
  $(node, ".scan-form .scan").hidden = running;
  $(node, ".abort").hidden = !running;

  const prompt = $(node, ".prompt");
  const wasHidden = prompt.hidden;
  prompt.hidden = !v.prompt;
  if (v.prompt) {
    $(prompt, ".prompt-message").textContent = v.prompt.message;
    const image = $(prompt, ".prompt-image");
    image.hidden = !v.prompt.image;
    // The address changes with each prompt, so a new question never shows the last one's image.
    if (v.prompt.image && image.dataset.src !== v.prompt.image) {
      image.dataset.src = v.prompt.image;
      image.src = withToken(v.prompt.image);
      image.alt = v.prompt.message;
    }
    $(prompt, ".prompt-refused").textContent = v.prompt.refused || "";
    const input = $(prompt, ".prompt-input");
    input.hidden = v.prompt.choices.length > 0;
    const choices = $(prompt, ".choices");
    const key = v.prompt.choices.join("\u0000");
    if (choices.dataset.key !== key) {
      choices.dataset.key = key;
      choices.replaceChildren(...v.prompt.choices.map((label, choice) => {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = label;
        b.addEventListener("click", () => api("/api/answer", { slot: v.slot, choice })
          .catch((err) => { $(prompt, ".prompt-refused").textContent = err.message; }));
        return b;
      }));
    }
    if (wasHidden) setTimeout(focusNext, 0);
  }

  // While testing, the latest values; after a failure, the failing ones (they are the reason);
  // after a pass, none: the verdict says it all.
  const failing = v.measurements.filter((m) => m.verdict === "fail");
  const shown = running ? v.measurements.slice(-4) : (v.phase === "pass" ? [] : failing.slice(0, 4));
  const rows = shown.map((m) => {
    const tr = document.createElement("tr");
    tr.className = m.verdict;
    const word = { pass: "OK", marginal: "MARGINAL", fail: "FAIL" }[m.verdict] || m.verdict;
    for (const [text, cls] of [[m.name, ""], [m.value, ""], [m.limits, ""], [word, "verdict"]]) {
      const td = document.createElement("td");
      td.textContent = text;
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    return tr;
  });
  $(node, ".measurements tbody").replaceChildren(...rows);

  const wear = $(node, ".wear");
  wear.className = `wear ${v.wear ? v.wear.level : ""}`;
  if (v.wear) {
    const note = { ok: "", warning: " — WARNING: maintenance due soon",
      worn: " — WORN OUT: call the technician" }[v.wear.level] || "";
    wear.textContent = `Fixture ${v.wear.fixture}: ${v.wear.count} of ${v.wear.limit} insertions${note}`;
  } else {
    wear.textContent = "";
  }
}

function render(view) {
  lastView = view;
  document.getElementById("station").textContent = `Station ${view.station}`;
  document.getElementById("route").textContent = `route ${view.route}: ${view.scenarios.join(" → ")}`;
  for (const v of view.slots) renderTile(tiles.get(v.slot) || buildTile(v.slot), v);
  const p = view.panel;
  document.getElementById("units").textContent = p.units;
  document.getElementById("fpy").textContent = p.first_pass_yield == null ? "–" : `${p.first_pass_yield.toFixed(0)} %`;
  document.getElementById("takt").textContent = seconds(p.takt_seconds);
  document.getElementById("top-failures").replaceChildren(...p.top_failures.map(([what, n]) => {
    const li = document.createElement("li");
    li.textContent = `${what} (${n}×)`;
    return li;
  }));
  focusNext();
}

setInterval(() => {
  const now = Date.now();
  for (const t of tiles.values()) {
    const e = $(t, ".elapsed");
    if (e.dataset.started) e.textContent = seconds((now - Number(e.dataset.started)) / 1000);
  }
}, 500);

document.getElementById("badge-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const id = document.getElementById("badge-input").value.trim();
  const refused = document.getElementById("badge-refused");
  refused.textContent = "";
  if (!id) return;
  api("/api/badge", { person: id }).then(() => setOperator(id))
    .catch((err) => { refused.textContent = err.message; });
});
document.getElementById("sign-out").addEventListener("click", () => setOperator(""));

const tech = document.getElementById("tech");
const techMessage = document.getElementById("tech-message");
function techAction(path, extra) {
  const person = document.getElementById("tech-id").value.trim();
  if (!person) { techMessage.textContent = "Scan your technician badge first"; return; }
  const body = { person, slot: document.getElementById("tech-slot").value, ...extra };
  api(path, body).then(() => { techMessage.textContent = "Recorded."; })
    .catch((err) => { techMessage.textContent = err.message; });
}
document.getElementById("technician").addEventListener("click", () => {
  tech.hidden = false;
  techMessage.textContent = "";
  document.getElementById("tech-id").focus({ preventScroll: true });
});
document.getElementById("tech-close").addEventListener("click", () => { tech.hidden = true; focusNext(); });
document.getElementById("tech-form").addEventListener("submit", (e) => e.preventDefault());
document.getElementById("tech-maintenance").addEventListener("click",
  () => techAction("/api/technician/maintenance", {}));
document.getElementById("tech-repair").addEventListener("click",
  () => techAction("/api/technician/repair", { serial: document.getElementById("tech-serial").value.trim() }));
document.getElementById("tech-override").addEventListener("click",
  () => techAction("/api/technician/retest-override", { serial: document.getElementById("tech-serial").value.trim() }));
document.getElementById("tech-abort-all").addEventListener("click",
  () => techAction("/api/technician/abort-all", {}));

const events = new EventSource(withToken("/events"));
events.addEventListener("view", (e) => render(JSON.parse(e.data)));
setOperator(operator);
