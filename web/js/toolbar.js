// The brush controls: concept palette, draw/erase, brush size, strength, action buttons (the view and export
// settings are settings.js).
//
// Toolbar reads and writes the DOM controls in index.html and dispatches
//   "change" {key: "concept"|"mode"|"brush"|"strength", value}
//   "action" {name}     for every [data-action] button (undo, redo, reset, download, save, load, share, help, ...)
// It holds no painting state beyond what the controls show.

export const BRUSH_MIN = 1;
export const BRUSH_MAX = 25;

export class Toolbar extends EventTarget {
  constructor(root) {
    super();
    this.root = root;
    this.palette = root.querySelector("#concept-palette");
    this.brush = root.querySelector("#brush-size");
    this.brushOut = root.querySelector("#brush-size-value");
    this.strength = root.querySelector("#strength");
    this.strengthOut = root.querySelector("#strength-value");
    this.concepts = [];

    for (const input of root.querySelectorAll('input[name="mode"]')) {
      input.addEventListener("change", () => this.emit("change", { key: "mode", value: input.value }));
    }
    this.brush.addEventListener("input", () => {
      this.brushOut.textContent = this.brush.value;
      this.emit("change", { key: "brush", value: Number(this.brush.value) });
    });
    this.strength.addEventListener("input", () => {
      this.strengthOut.textContent = this.strength.value;
      this.emit("change", { key: "strength", value: Number(this.strength.value) });
    });
    root.addEventListener("click", (ev) => {
      const button = ev.target.closest("[data-action]");
      if (button && !button.disabled && button.dataset.hold === undefined) this.emit("action", { name: button.dataset.action });
    });
  }

  /** concepts: [{name, color, units}] from GET /models/{id}. Keeps the current choice when it still exists. */
  setConcepts(concepts) {
    const previous = this.concept;
    this.concepts = concepts;
    this.palette.replaceChildren();
    for (const [i, c] of concepts.entries()) {
      const label = document.createElement("label");
      label.className = "concept";
      label.style.setProperty("--concept-color", c.color);
      const ranked = c.erase_ranking ? `draw: ${c.ranking}, erase: ${c.erase_ranking}` : c.ranking || "ranked";
      label.title = `${c.name}: ${c.units} units (${ranked})${i < 9 ? `, key ${i + 1}` : ""}`;
      const input = document.createElement("input");
      input.type = "radio";
      input.name = "concept";
      input.value = c.name;
      input.dataset.concept = c.name;
      input.addEventListener("change", () => this.emit("change", { key: "concept", value: c.name }));
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.setAttribute("aria-hidden", "true");
      const name = document.createElement("span");
      name.className = "concept-name";
      name.textContent = c.name;
      label.append(input, swatch, name);
      this.palette.append(label);
    }
    const keep = concepts.find((c) => c.name === previous) || concepts[0];
    if (keep) this.setConcept(keep.name, { silent: true });
  }

  get concept() {
    return this.palette.querySelector('input[name="concept"]:checked')?.value ?? null;
  }

  conceptInfo(name = this.concept) {
    return this.concepts.find((c) => c.name === name) || null;
  }

  setConcept(name, { silent = false } = {}) {
    const input = [...this.palette.querySelectorAll('input[name="concept"]')].find((el) => el.value === name);
    if (!input) return;
    input.checked = true;
    const units = this.conceptInfo(name)?.units ?? 20;
    const before = this.strength.value;
    this.strength.max = String(Math.min(20, units)); // the browser clamps the value to the new max
    this.strengthOut.textContent = this.strength.value;
    if (this.strength.value !== before) this.emit("change", { key: "strength", value: Number(this.strength.value) });
    if (!silent) this.emit("change", { key: "concept", value: name });
  }

  selectConceptIndex(i) {
    const c = this.concepts[i];
    if (c) this.setConcept(c.name);
  }

  get mode() {
    return this.root.querySelector('input[name="mode"]:checked').value;
  }

  setMode(mode) {
    const input = this.root.querySelector(`input[name="mode"][value="${mode}"]`);
    if (!input || input.checked) return;
    input.checked = true;
    this.emit("change", { key: "mode", value: mode });
  }

  get brushSize() {
    return Number(this.brush.value);
  }

  setBrushSize(v) {
    const clamped = Math.min(BRUSH_MAX, Math.max(BRUSH_MIN, Math.round(v)));
    this.brush.value = String(clamped);
    this.brushOut.textContent = String(clamped);
    this.emit("change", { key: "brush", value: clamped });
  }

  get strengthValue() {
    return Number(this.strength.value);
  }

  setStrength(v) {
    const clamped = Math.min(Number(this.strength.max), Math.max(1, Math.round(v)));
    this.strength.value = String(clamped);
    this.strengthOut.textContent = String(clamped);
    this.emit("change", { key: "strength", value: clamped });
  }

  /** Enable or disable action buttons by name, e.g. {undo: false, redo: true}. */
  setEnabled(states) {
    for (const [name, on] of Object.entries(states)) {
      for (const el of this.root.querySelectorAll(`[data-action="${name}"]`)) el.disabled = !on;
    }
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
