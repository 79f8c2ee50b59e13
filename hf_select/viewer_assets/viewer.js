// hf_select viewer: plain JavaScript, no network. Data files are scripts (data/*.js) that call hfView.*,
// because browsers refuse fetch() on file:// pages; prompt pages are loaded only when one is opened.
"use strict";

const hfView = (() => {
  const waiting = {};
  const pages = {};
  const state = {overview: null, index: [], shown: [], limit: 200, current: null, shade: ""};
  const $ = (id) => document.getElementById(id);

  function load(name) {
    return new Promise((resolve, reject) => {
      waiting[name] = resolve;
      const script = document.createElement("script");
      script.src = `data/${name}.js`;
      script.onerror = () => reject(new Error(`could not read data/${name}.js`));
      document.head.appendChild(script);
    });
  }
  const pageName = (n) => `page-${String(n).padStart(5, "0")}`;
  function loadPage(n) {
    if (!pages[n]) pages[n] = load(pageName(n));
    return pages[n];
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }
  const fmt = (v, digits = 3) => (v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(digits));

  // -- colour scales: one per layer, fixed over the whole data so pages compare --------------------------------
  // Both read under every common colour-vision deficiency: sequential is viridis (dark purple = low, yellow =
  // high: lightness alone orders it), diverging is blue (student) - white - orange (teacher). Each step also shows
  // its value in the text, so no reading depends on colour or on hovering.
  const SEQUENTIAL = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const DIVERGING = [[33, 102, 172], [146, 197, 222], [247, 247, 247], [244, 165, 130], [202, 95, 0]];
  function along(stops, t) {
    const x = t * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(x)), f = x - i;
    return stops[i].map((c, k) => Math.round(c + (stops[i + 1][k] - c) * f));
  }
  function colour(layer, value) {
    if (value === null || value === undefined || Number.isNaN(value)) return "transparent";
    const scale = state.overview.layers[layer];
    let t = (value - scale.lo) / (scale.hi - scale.lo || 1);
    t = Math.max(0, Math.min(1, t));
    const rgb = along(scale.scale === "diverging" ? DIVERGING : SEQUENTIAL, t);
    return `rgba(${rgb.join(",")},0.45)`;  // light enough that the text keeps its contrast on every stop
  }
  function legend(layer) {
    const scale = state.overview.layers[layer];
    const stops = [0, 0.25, 0.5, 0.75, 1].map((t) => colour(layer, scale.lo + t * (scale.hi - scale.lo)));
    return el("div", {class: "legend", "data-layer": layer},
      el("span", {text: fmt(scale.lo, 2)}),
      el("span", {class: "bar", style: `background: linear-gradient(to right, ${stops.join(",")})`}),
      el("span", {text: fmt(scale.hi, 2)}),
      el("span", {class: "legend-label", text: scale.label}));
  }

  // -- overview -----------------------------------------------------------------------------------------------
  function table(rows, columns, caption) {
    const head = el("tr", {}, ...columns.map(([, label]) => el("th", {scope: "col", text: label})));
    const body = rows.map((row) => el("tr", {}, ...columns.map(([key, , f]) => {
      const value = f ? f(row[key], row) : (row[key] ?? "–");
      return value instanceof Node ? el("td", {}, value) : el("td", {text: value});
    })));
    return el("table", {}, el("caption", {text: caption}), el("thead", {}, head), el("tbody", {}, ...body));
  }
  function interval(v, row) {
    const low = row.score_low, high = row.score_high;
    return low === undefined || low === null ? fmt(v) : `${fmt(v)} [${fmt(low)}, ${fmt(high)}]`;
  }
  function intervalBar(rows) {
    // Each teacher's score and interval drawn on one axis per ranking: overlapping bars are not told apart.
    const ends = rows.flatMap((r) => [r.score_low ?? r.score, r.score_high ?? r.score]).filter((v) => v !== null);
    const lo = Math.min(...ends), hi = Math.max(...ends), at = (v) => (100 * (v - lo)) / (hi - lo || 1);
    return (v, row) => {
      if (v === null || v === undefined) return "–";
      const low = row.score_low ?? v, high = row.score_high ?? v;
      return el("span", {class: "ci-cell"}, el("span", {text: interval(v, row)}),
        el("span", {class: "ci", "aria-hidden": "true"},
          el("span", {class: "ci-range", style: `left: ${at(low)}%; width: ${Math.max(at(high) - at(low), 0.5)}%`}),
          el("span", {class: "ci-point", style: `left: ${at(v)}%`})));
    };
  }
  function renderOverview() {
    const o = state.overview, box = $("overview");
    box.replaceChildren(el("p", {class: "summary", text:
      `${o.prompts} prompts, ${o.responses} responses, ${o.teachers.length} teacher(s).` +
      (o.selection ? ` Picked: ${o.selection}.` : "")}));
    for (const ranking of o.rankings) {
      const best = ranking.higher === false ? "lower is better" : "higher is better";
      box.append(table(ranking.rows, [["rank", "rank"], ["teacher", "teacher"],
        ["score", "score [interval]", intervalBar(ranking.rows)],
        ["accuracy", "accuracy", (v) => fmt(v, 2)], ["count", "responses"]],
        `Teachers ranked by ${ranking.score} (${best})`));
    }
    if (!o.rankings.length) box.append(el("p", {text: "No teacher ranking: the data has one teacher or no score."}));
    if (o.comparison) {
      box.append(el("h2", {text: "Which score to trust here"}), el("pre", {class: "comparison", text: o.comparison}));
    }
    for (const note of o.notes) box.append(el("p", {class: "note", text: note}));
  }

  // -- the prompt list ---------------------------------------------------------------------------------------
  function filters() {
    return {q: $("search").value.trim().toLowerCase(), teacher: $("filter-teacher").value,
      picked: $("filter-picked").value, correct: $("filter-correct").value, sort: $("sort").value};
  }
  function applyFilters() {
    const f = filters();
    const teacher = f.teacher === "" ? -1 : Number(f.teacher);
    let shown = [];
    state.index.forEach(({search, teachers, picked, correct}, i) => {
      if (f.q && !search.includes(f.q)) return;
      if (teacher >= 0 && !teachers.includes(teacher)) return;
      if (f.picked === "yes" && (!picked.length || (teacher >= 0 && !picked.includes(teacher)))) return;
      if (f.picked === "no" && picked.length) return;
      if (f.correct === "yes" && correct !== 1) return;
      if (f.correct === "no" && correct !== 0) return;
      shown.push(i);
    });
    if (f.sort !== "") {
      const k = Number(f.sort);
      const gap = (i) => state.index[i].gaps[k] ?? -Infinity;
      shown = shown.sort((a, b) => gap(b) - gap(a) || a - b);
    }
    state.shown = shown;
    state.limit = 200;
    renderList();
    if (!$("browser").hidden && state.current !== null) renderPrompt(state.current);  // the teacher highlight
    writeHash();
  }
  function renderList() {
    const list = $("prompt-list");
    const sortKey = $("sort").value;
    list.replaceChildren(...state.shown.slice(0, state.limit).map((i) => {
      const {title, picked, correct, gaps} = state.index[i];
      const badges = [picked.length ? "picked" : null, correct === 1 ? "correct" : correct === 0 ? "none correct" : null];
      const gap = sortKey !== "" ? ` · gap ${fmt(gaps[Number(sortKey)], 2)}` : "";
      return el("li", {}, el("a", {href: hashFor("prompts", i), "data-prompt": i,
        "aria-current": i === state.current ? "true" : null},
        el("span", {class: "num", text: `#${i}`}), ` ${title}`,
        el("small", {text: badges.filter(Boolean).join(" · ") + gap})));
    }));
    $("count").textContent = `${state.shown.length} of ${state.index.length} prompts`;
    $("more").hidden = state.shown.length <= state.limit;
  }

  // -- one prompt: every response side by side --------------------------------------------------------------------
  function pieces(text, turn, layer) {
    const spans = turn.shades ? turn.shades[layer] : null;
    const cuts = new Set([0, text.length]);
    for (const s of spans || []) { cuts.add(s[0]); cuts.add(s[1]); }
    if (turn.think) { cuts.add(turn.think[0]); cuts.add(turn.think[1]); }
    const sorted = [...cuts].filter((c) => c >= 0 && c <= text.length).sort((a, b) => a - b);
    const out = [];
    let k = 0;
    for (let i = 0; i + 1 < sorted.length; i++) {
      const [a, b] = [sorted[i], sorted[i + 1]];
      while (spans && k < spans.length && spans[k][1] <= a) k++;
      const span = spans && k < spans.length && spans[k][0] <= a && b <= spans[k][1] ? spans[k] : null;
      out.push({a, b, span, index: span ? k : -1, start: span !== null && span[0] === a,
        think: !!turn.think && turn.think[0] <= a && b <= turn.think[1]});
    }
    return out;
  }
  function spanNode(text, piece, layer) {
    if (!piece.span) return el("span", {}, text.slice(piece.a, piece.b));
    const [, , value, category] = piece.span;
    const what = state.overview.layers[layer].unit;
    const label = `${what} ${piece.index + 1}: ${fmt(value)}` + (category ? ` (${category})` : "");
    // a step's start is focusable (one tab stop per response: arrow keys move between steps, see `onStepKey`)
    // and shows its value before its text
    return el("span", {class: `span ${what}${piece.start ? " start" : ""}`, tabindex: piece.start ? -1 : null,
      role: piece.start ? "group" : null, "aria-label": piece.start ? label : null, title: label,
      "data-score": value ?? "nan", "data-value": piece.start ? fmt(value, 2) : null,
      style: `background-color: ${colour(layer, value)}`}, text.slice(piece.a, piece.b));
  }
  function turnNode(turn, layer) {
    const body = el("div", {class: "text"});
    let think = null;
    for (const piece of pieces(turn.text, turn, layer)) {
      if (piece.think && !think) {
        think = el("details", {class: "think", open: true},
          el("summary", {text: `reasoning (${turn.think[1] - turn.think[0]} characters)`}));
        body.append(think);
      }
      (piece.think ? think : body).append(math(spanNode(turn.text, piece, layer)));
    }
    return el("div", {class: `turn ${turn.role}`}, el("div", {class: "role", text: turn.role}), body);
  }
  // LaTeX drawn by KaTeX (vendored, offline), piece by piece: math cut by a step or sentence boundary stays as
  // written, and every shaded span keeps its place
  const DELIMITERS = [{left: "$$", right: "$$", display: true}, {left: "\\[", right: "\\]", display: true},
    {left: "\\(", right: "\\)", display: false}, {left: "$", right: "$", display: false}];
  function math(node) {
    if (window.renderMathInElement && node.nodeType === Node.ELEMENT_NODE) {
      window.renderMathInElement(node, {delimiters: DELIMITERS, throwOnError: false});
    }
    return node;
  }
  function bestValues(responses) {
    return state.overview.scores.map((score, k) => {
      const values = responses.map((r) => r.s[k]).filter((v) => v !== null);
      if (!values.length || score.higher === null) return null;
      return score.higher ? Math.max(...values) : Math.min(...values);
    });
  }
  function responseNode(response, layer, best, highlighted) {
    const o = state.overview;
    const badges = el("div", {class: "badges"},
      response.picked ? el("span", {class: "badge picked", text: "picked"}) : null,
      response.correct === true ? el("span", {class: "badge correct", text: "correct"}) : null,
      response.correct === false ? el("span", {class: "badge wrong", text: "incorrect"}) : null,
      response.cut ? el("span", {class: "badge cut", text: "cut off"}) : null,
      response.error ? el("span", {class: "badge error", text: `error: ${response.error}`}) : null);
    const scores = el("dl", {class: "scores"}, ...o.scores.flatMap((score, k) =>
      [el("dt", {text: score.name}), el("dd", {class: response.s[k] !== null && response.s[k] === best[k] ? "best" : null,
        title: response.s[k] !== null && response.s[k] === best[k] ? "best of these responses" : null,
        text: fmt(response.s[k])})]));
    const layerMissing = layer !== "none" && !response.turns.some((t) => t.shades && t.shades[layer]);
    const classes = `response${response.picked ? " is-picked" : ""}${highlighted ? " is-highlighted" : ""}`;
    const node = el("section", {class: classes, "data-teacher": o.teachers[response.t],
      "aria-label": `response by ${o.teachers[response.t]}`},
      el("h3", {text: o.teachers[response.t]}), badges, scores,
      layerMissing ? el("p", {class: "note", text: o.layers[layer] ? o.layers[layer].missing : ""}) : null,
      ...response.turns.map((t) => turnNode(t, layer)));
    const first = node.querySelector(".span.start");
    if (first) first.tabIndex = 0;
    node.addEventListener("keydown", onStepKey);
    return node;
  }
  // Arrow keys move between the steps of one response; Tab leaves it (roving tabindex)
  function onStepKey(event) {
    if (!event.target.classList.contains("start")) return;
    const steps = [...event.currentTarget.querySelectorAll(".span.start")];
    const at = steps.indexOf(event.target);
    const moves = {ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1, Home: 0,
      End: steps.length - 1};
    if (!(event.key in moves)) return;
    event.preventDefault();
    const next = steps[Math.max(0, Math.min(steps.length - 1, moves[event.key]))];
    event.target.tabIndex = -1;
    next.tabIndex = 0;
    next.focus();
  }
  async function renderPrompt(i) {
    const box = $("prompt");
    state.current = i;
    for (const a of document.querySelectorAll("#prompt-list a")) {
      if (Number(a.dataset.prompt) === i) a.setAttribute("aria-current", "true"); else a.removeAttribute("aria-current");
    }
    if (i === null || !state.index[i]) { box.replaceChildren(el("p", {text: "Pick a prompt on the left."})); return; }
    const pageNo = state.index[i].page;
    const page = await loadPage(pageNo);
    if (state.current !== i) return;  // another prompt was opened meanwhile
    const prompt = page.find((p) => p.id === i);
    const o = state.overview;
    const teacher = $("filter-teacher").value;
    const layer = state.shade in o.layers || state.shade === "none" ? state.shade
      : (Object.keys(o.layers)[0] || "none");
    const shadeChoice = el("label", {}, "Shade by ", el("select", {id: "shade"},
      ...Object.keys(o.layers).map((l) =>
        el("option", {value: l, selected: l === layer, text: o.layers[l].label})),
      el("option", {value: "none", selected: layer === "none", text: "nothing"})));
    shadeChoice.querySelector("select").addEventListener("change", (e) => {
      state.shade = e.target.value; writeHash();
      renderPrompt(i).then(() => $("shade").focus());  // the control is drawn anew: keep the focus on it
    });
    const context = prompt.context.map(([role, text]) => el("div", {class: `turn ${role}`},
      el("div", {class: "role", text: role}), math(el("div", {class: "text", text}))));
    const responses = prompt.responses;  // every teacher side by side; the one filtered on is highlighted
    box.replaceChildren(el("h2", {text: `Prompt #${i}`}), el("div", {class: "context"}, ...context),
      el("div", {class: "controls"}, shadeChoice, layer !== "none" ? legend(layer) : null),
      el("div", {class: "responses", style: `--columns: ${Math.max(1, Math.min(responses.length, 4))}`},
        ...responses.map((r) => responseNode(r, layer, bestValues(responses), teacher !== "" && r.t === Number(teacher)))));
  }

  // -- state in the URL, keyboard ------------------------------------------------------------------------------
  function readHash() {
    const h = new URLSearchParams(location.hash.slice(1));
    return {view: h.get("view") || "overview", p: h.has("p") ? Number(h.get("p")) : null, q: h.get("q") || "",
      teacher: h.get("teacher") || "", picked: h.get("picked") || "", correct: h.get("correct") || "",
      sort: h.get("sort") || "", shade: h.get("shade") || ""};
  }
  function hashFor(view, prompt) {
    const f = filters();
    const h = new URLSearchParams({view});
    if (prompt !== null) h.set("p", prompt);
    for (const key of ["q", "teacher", "picked", "correct", "sort"]) if (f[key]) h.set(key, f[key]);
    if (state.shade) h.set("shade", state.shade);
    return `#${h}`;
  }
  function writeHash() {
    const next = hashFor($("overview").hidden ? "prompts" : "overview", state.current);
    if (location.hash !== next) history.replaceState(null, "", next);
  }
  function show(view) {
    $("overview").hidden = view !== "overview";
    $("browser").hidden = view === "overview";
    $("tab-overview").setAttribute("aria-current", view === "overview" ? "page" : "false");
    $("tab-prompts").setAttribute("aria-current", view === "overview" ? "false" : "page");
  }
  function fromHash() {
    const h = readHash();
    $("search").value = h.q; $("filter-teacher").value = h.teacher; $("filter-picked").value = h.picked;
    $("filter-correct").value = h.correct; $("sort").value = h.sort; state.shade = h.shade;
    state.current = h.p;
    applyFilters();
    show(h.view);
    if (h.view !== "overview") renderPrompt(h.p ?? (state.shown.length ? state.shown[0] : null));
  }
  function step(delta) {
    const at = state.shown.indexOf(state.current);
    const next = state.shown[Math.max(0, Math.min(state.shown.length - 1, at + delta))];
    if (next === undefined) return;
    if (state.shown.indexOf(next) >= state.limit) { state.limit = state.shown.indexOf(next) + 1; renderList(); }
    show("prompts");
    renderPrompt(next).then(writeHash);
  }
  function onKey(event) {
    const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
    if (event.key === "Escape" && typing) { document.activeElement.blur(); return; }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "/") { event.preventDefault(); show("prompts"); $("search").focus(); writeHash(); }
    else if (event.key === "j") step(1);
    else if (event.key === "k") step(-1);
    else if (event.key === "o") { show("overview"); writeHash(); }
  }

  async function start() {
    try {
      state.overview = await load("overview");
      const o = state.overview;
      document.title = $("title").textContent = o.title;
      o.teachers.forEach((t, k) => $("filter-teacher").append(el("option", {value: k, text: t})));
      o.scores.forEach((s, k) => $("sort").append(el("option", {value: k, text: `gap: ${s.name}`})));
      renderOverview();
      state.index = await load("index");
      let typed = null;  // search as the user types, once they pause (not on every keystroke)
      $("search").addEventListener("input", () => { clearTimeout(typed); typed = setTimeout(applyFilters, 200); });
      for (const id of ["filter-teacher", "filter-picked", "filter-correct", "sort"]) {
        $(id).addEventListener("change", applyFilters);
      }
      $("more").addEventListener("click", () => { state.limit += 200; renderList(); });
      window.addEventListener("hashchange", fromHash);
      document.addEventListener("keydown", onKey);
      fromHash();
      $("status").hidden = true;
      document.body.dataset.ready = "true";
    } catch (err) {
      $("status").textContent = `Could not open the viewer: ${err.message}`;
      throw err;
    }
  }

  document.addEventListener("DOMContentLoaded", start);
  return {
    overview: (data) => waiting.overview(data),
    index: (data) => waiting.index(data),
    page: (n, data) => waiting[pageName(n)](data),
  };
})();
