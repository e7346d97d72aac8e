// What the GAN knows, on the current picture: the unit explorer and the "Where can it go?" overlay.
//
// UnitExplorer (the "Units" panel, #unit-explorer): pick a concept and see its units best first (the dissection's
// ranking; per unit its ACE weight alpha, its place in the IoU ranking and its own best label's IoU), each unit's
// activation map over the picture (GET /activations), and switch single units on (at the concept's draw value
// for that unit; a random unit at its top-1% level) or off (0) over the whole picture: the result renders live
// through POST /intervene with raw unit edits (latest wins). "Random units" lists as many random units of the layer: the baseline the
// papers compare concept units against. Loads nothing until the panel is opened.
//
// ContextOverlay ("Where can it go?", #context-toggle): the context map of the chosen concept (GET /context: the
// segmenter's gain when a stroke of it lands at each feature cell) as a heatmap over the picture, and the value
// under the pointer in #context-readout.
//
// Both take the picture from `target()` ({model, image | upload, layer}) and are told of changes by refresh().
// For tests they mirror their state on their roots: data-state ("loading" | "ready" | "error"), data-result-seq.

import { fetchActivations, fetchConcept, fetchContext, renderEdits } from "./api.js";

const LISTED = 10; // units listed per concept (the activations route accepts 20)
const HEAT = [230, 30, 190]; // heatmap colour (magenta: no concept's colour)
const FULL_GAIN = 0.5; // the overlay is fully coloured from this gain up

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k in node && k !== "role") node[k] = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

/** Paint a (h, w) grid into a canvas of that size: value / scale as the alpha of `rgb` (negative: 0). */
function paintGrid(canvas, grid, scale, rgb = HEAT, maxAlpha = 1) {
  const h = grid.length;
  const w = grid[0]?.length ?? 0;
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const a = Math.max(0, Math.min(1, grid[i][j] / scale)) * maxAlpha;
      const o = 4 * (i * w + j);
      img.data.set([rgb[0], rgb[1], rgb[2], Math.round(255 * a)], o);
    }
  }
  ctx.putImageData(img, 0, 0);
}

export class UnitExplorer {
  /** root: the page; target(): the picture; concepts(): the model's ConceptSummary list; channels(): units at the layer. */
  constructor(root, { target, concepts, channels, concept }) {
    this.root = root.querySelector("#unit-explorer");
    this.target = target;
    this.concepts = concepts;
    this.channels = channels;
    this.initialConcept = concept;
    this.rows = []; // [{unit, value, state: "as is"|"on"|"off", ...}]
    this.seq = 0;
    this.abort = null;
    this.build();
    this.root.addEventListener("toggle", () => this.root.open && this.refresh());
  }

  build() {
    this.select = el("select", { id: "ux-concept", "aria-label": "Concept whose units to list" });
    this.select.addEventListener("change", () => this.listConcept());
    const button = (id, text, title, fn) => {
      const b = el("button", { type: "button", id, title }, text);
      b.addEventListener("click", fn);
      return b;
    };
    this.list = el("ol", { id: "ux-units", className: "ux-units", "aria-label": "Units, best first" });
    this.before = el("img", { id: "ux-before", alt: "The picture", width: 128, height: 128 });
    this.result = el("img", { id: "ux-result", alt: "The picture with the chosen units switched", width: 128, height: 128 });
    this.caption = el("p", { id: "ux-caption", className: "note", role: "status", "aria-live": "polite" });
    this.body = el(
      "div",
      { className: "ux-body" },
      el("label", { className: "ux-pick" }, "Concept ", this.select),
      el(
        "div",
        { className: "ux-buttons", role: "toolbar", "aria-label": "Unit sets" },
        button("ux-concept-units", "Its units", "The concept's units, best first", () => this.listConcept()),
        button("ux-random", "Random units", "As many random units of this layer: the baseline", () => this.listRandom()),
        button("ux-all-on", "All on", "Switch every listed unit on", () => this.setAll("on")),
        button("ux-clear", "Clear", "Leave every unit as the picture has it", () => this.setAll("as is")),
      ),
      el("div", { className: "ux-pair" }, el("figure", {}, this.before, el("figcaption", {}, "picture")), el("figure", {}, this.result, el("figcaption", {}, "units switched"))),
      this.caption,
      this.list,
    );
    this.root.append(this.body);
  }

  /** The picture or model changed: reload if the panel is open. */
  refresh() {
    if (!this.root.open) return;
    const names = this.concepts().map((c) => c.name);
    const keep = this.select.value || this.initialConcept();
    this.select.replaceChildren(...names.map((n) => new Option(n, n)));
    if (names.includes(keep)) this.select.value = keep;
    this.listConcept();
  }

  async listConcept() {
    const concept = this.select.value;
    if (!concept) return;
    const t = this.target();
    this.setState("loading");
    try {
      const detail = await fetchConcept(t.model, concept, t.layer);
      const alpha = new Map((detail.effect?.alpha?.top ?? []).map(([u, a]) => [u, a]));
      const byIou = detail.effect?.iou_ranked?.units ?? [];
      const units = detail.units.slice(0, LISTED);
      const values = detail.draw_values.slice(0, LISTED);
      const rows = units.map((u, i) => ({ unit: u, value: values[i], alpha: alpha.get(u) ?? null, iouRank: byIou.indexOf(u) + 1 || null }));
      await this.show(rows, `${concept}'s units, best first (${detail.ranking})`);
    } catch (err) {
      this.fail(err);
    }
  }

  async listRandom() {
    const n = Math.min(LISTED, this.channels());
    const picked = new Set();
    while (picked.size < n) picked.add(Math.floor(Math.random() * this.channels()));
    try {
      await this.show([...picked].map((u) => ({ unit: u, value: null, alpha: null })), `${n} random units: the baseline`);
    } catch (err) {
      this.fail(err);
    }
  }

  async show(rows, title) {
    this.setState("loading");
    const t = this.target();
    const acts = await fetchActivations(t, rows.map((r) => r.unit));
    this.rows = rows.map((r, i) => {
      const a = acts.units[i];
      return { ...r, grid: a.grid, label: a.label, iou: a.iou, value: r.value ?? a.quantile_99 ?? 1, state: "as is" };
    });
    this.root.dataset.units = this.rows.map((r) => r.unit).join(",");
    this.list.replaceChildren(el("li", { className: "ux-title" }, title), ...this.rows.map((r) => this.row(r)));
    await this.render();
  }

  row(r) {
    const heat = el("canvas", { className: "ux-heat", role: "img", "aria-label": `unit ${r.unit}: its activation over the picture` });
    const peak = Math.max(1e-6, ...r.grid.flat());
    paintGrid(heat, r.grid, peak, HEAT);
    const facts = [
      r.alpha === null ? null : `α ${r.alpha.toFixed(2)}`,
      r.iouRank ? `#${r.iouRank} by IoU` : null,
      r.label ? `${r.label} ${Number(r.iou).toFixed(2)}` : null,
    ];
    const toggle = (state, text) => {
      const b = el("button", { type: "button", className: "ux-toggle", "aria-pressed": "false", "aria-label": `unit ${r.unit} ${text}`, dataset: { state } }, text);
      b.addEventListener("click", () => {
        r.state = r.state === state ? "as is" : state;
        this.syncButtons();
        this.render();
      });
      return b;
    };
    const item = el(
      "li",
      { className: "ux-unit", dataset: { unit: String(r.unit) } },
      heat,
      el("span", { className: "ux-name" }, `unit ${r.unit}`),
      el("span", { className: "ux-facts" }, facts.filter(Boolean).join(" · ")),
      toggle("on", "on"),
      toggle("off", "off"),
    );
    r.item = item;
    return item;
  }

  syncButtons() {
    for (const r of this.rows) {
      for (const b of r.item.querySelectorAll(".ux-toggle")) b.setAttribute("aria-pressed", String(b.dataset.state === r.state));
    }
  }

  setAll(state) {
    for (const r of this.rows) r.state = state;
    this.syncButtons();
    this.render();
  }

  /** The picture with the switched units, whole-image edits through POST /intervene (latest wins). */
  async render() {
    const t = this.target();
    const on = this.rows.filter((r) => r.state === "on");
    const off = this.rows.filter((r) => r.state === "off");
    const edits = [];
    if (on.length) edits.push({ layer: t.layer, units: on.map((r) => r.unit), value: on.map((r) => r.value) });
    if (off.length) edits.push({ layer: t.layer, units: off.map((r) => r.unit), value: 0 });
    this.abort?.abort();
    this.abort = new AbortController();
    const seq = ++this.seq;
    this.setState("loading");
    try {
      const [before, after] = await Promise.all([
        this.beforeUrl ?? renderEdits({ ...t, edits: [], signal: this.abort.signal }),
        renderEdits({ ...t, edits, signal: this.abort.signal }),
      ]);
      if (seq !== this.seq) return;
      if (!this.beforeUrl) this.beforeUrl = before;
      this.before.src = typeof before === "string" ? before : URL.createObjectURL(before);
      this.beforeUrl = this.before.src;
      this.result.src = URL.createObjectURL(after);
      const words = [on.length ? `on: ${on.map((r) => r.unit).join(", ")}` : "", off.length ? `off: ${off.map((r) => r.unit).join(", ")}` : ""];
      this.caption.textContent = words.filter(Boolean).join("; ") || "no unit switched";
      this.root.dataset.resultSeq = String(seq);
      this.setState("ready");
    } catch (err) {
      if (err.name !== "AbortError") this.fail(err);
    }
  }

  /** A new picture: the cached unedited render is stale. */
  pictureChanged() {
    this.beforeUrl = null;
    this.refresh();
  }

  setState(s) {
    this.root.dataset.state = s;
  }

  fail(err) {
    this.caption.textContent = `Could not load: ${err.message}`;
    this.setState("error");
  }
}

export class ContextOverlay {
  constructor(root, { target, concept, mode }) {
    this.toggle = root.querySelector("#context-toggle");
    this.readout = root.querySelector("#context-readout");
    this.wrap = root.querySelector("#canvas-wrap");
    this.target = target;
    this.concept = concept;
    this.mode = mode;
    this.canvas = el("canvas", { id: "context-canvas", className: "context-canvas", "aria-hidden": "true" });
    this.wrap.insertBefore(this.canvas, root.querySelector("#overlay-canvas"));
    this.map = null;
    this.abort = null;
    this.toggle.addEventListener("change", () => this.refresh());
    this.wrap.addEventListener("pointermove", (ev) => this.point(ev));
    this.wrap.addEventListener("pointerleave", () => this.point(null));
  }

  get on() {
    return this.toggle.checked;
  }

  async refresh() {
    this.canvas.hidden = !this.on;
    this.readout.hidden = !this.on;
    if (!this.on) return;
    const concept = this.concept();
    const mode = this.mode() === "stamp" ? "stamp" : "draw";
    if (!concept) return;
    this.abort?.abort();
    this.abort = new AbortController();
    this.wrap.dataset.context = "loading";
    this.readout.textContent = `Finding where ${concept} can go…`;
    try {
      const map = await this.fetchRetrying(concept, mode, this.abort.signal);
      this.map = map;
      paintGrid(this.canvas, map.gain, FULL_GAIN, HEAT, 0.7);
      this.wrap.dataset.context = "ready";
      this.readout.textContent = `${concept} (${mode === "stamp" ? "stamp" : "unit brush"}): coloured where it lands; point to read`;
    } catch (err) {
      if (err.name === "AbortError") return;
      this.wrap.dataset.context = "error";
      this.readout.textContent = `Where can it go? ${err.message}`;
    }
  }

  /** The map, retried while the server answers busy (503: other maps or REST images in flight), up to 20 s. */
  async fetchRetrying(concept, mode, signal) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fetchContext(this.target(), concept, mode, signal);
      } catch (err) {
        if (!/busy/.test(err.message) || attempt >= 20 || signal.aborted) throw err;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  point(ev) {
    if (!this.on || !this.map || !ev) return;
    const box = this.wrap.getBoundingClientRect();
    const [h, w] = this.map.shape;
    const j = Math.floor(((ev.clientX - box.left) / box.width) * w);
    const i = Math.floor(((ev.clientY - box.top) / box.height) * h);
    if (i < 0 || j < 0 || i >= h || j >= w) return;
    const g = Math.max(0, this.map.gain[i][j]);
    const verdict = g >= this.map.accept_gain ? "it can go here" : "the GAN refuses it here";
    this.readout.textContent = `${this.map.concept} here: +${Math.round(100 * g)}% (${verdict})`;
  }
}
