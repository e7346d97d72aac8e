// The painting as data: an ordered list of strokes with undo/redo.
//
// A stroke is {id, concept, mode: "draw"|"erase"|"stamp", strength, enabled, mask: {points: [[x, y], ...], radius}}
// with points and radius normalised to the image (0..1, radius relative to the image width), plus its kind's own
// fields (stroke_kinds.js: a stamp stroke has style, an index, and size, [w, h] in 0..1 of the image width; its
// radius is half the width; and context "ignore" when it forces its template where the generator refuses it). Points are
// rounded to 1e-4 when recorded (as the nearest double to the 4-decimal number, so JSON writes 0.12, not
// 0.12000000000000001), so a stroke survives JSON and the share link bit for bit.
// The canvas overlay and the server render are both views of this list; every change dispatches "change".
// Undo history entries are stroke lists, or {goto: image} (history.js: opening another image is a step); undo or
// redo onto a goto entry does not change the list but dispatches "goto" {image, direction: "undo"|"redo"}.

export const COORD_STEP = 1e-4;
export const COORD_SCALE = 10000; // 1 / COORD_STEP
export const MAX_STEPS = 100; // undo steps kept (and redo steps)

export function quantize(v) {
  return Math.round(v * COORD_SCALE) / COORD_SCALE;
}

export const isGoto = (entry) => !Array.isArray(entry);

export function clamp01(v) {
  return Math.min(1, Math.max(0, v));
}

import { expectedModes, MODES, STROKE_KINDS } from "./stroke_kinds.js";

let next_id = 1;

/** Make a stroke object from loose input (a saved file, a share link); throws on bad fields. */
export function makeStroke({ concept, mode = "draw", strength = 10, enabled = true, mask, style, size, context }) {
  if (typeof concept !== "string" || !concept) throw new Error(`stroke concept must be a name, got ${concept}`);
  if (!MODES.includes(mode)) throw new Error(`stroke mode must be ${expectedModes()}, got ${mode}`);
  const kind = STROKE_KINDS[mode];
  const s = Number(strength);
  if (!Number.isInteger(s) || s < 1 || s > 20) throw new Error(`stroke strength must be 1..20, got ${strength}`);
  if (!mask || !Array.isArray(mask.points) || mask.points.length === 0) throw new Error("stroke mask has no points");
  const radius = Number(mask.radius);
  if (!(radius > 0 && radius <= 1)) throw new Error(`stroke mask radius must be in (0, 1], got ${mask.radius}`);
  const points = mask.points.map(([x, y]) => [quantize(clamp01(Number(x))), quantize(clamp01(Number(y)))]);
  if (points.some(([x, y]) => !Number.isFinite(x) || !Number.isFinite(y))) throw new Error("stroke point is not a number");
  const stroke = { id: next_id++, concept, mode, strength: s, enabled: enabled !== false, mask: { points, radius: quantize(radius) } };
  return { ...stroke, ...kind.check({ style, size, context }) };
}

/** The fields that define a stroke's effect (what the server and saved files see). */
export function strokeData(stroke) {
  return {
    concept: stroke.concept,
    mode: stroke.mode,
    strength: stroke.strength,
    enabled: stroke.enabled,
    mask: { points: stroke.mask.points.map((p) => [p[0], p[1]]), radius: stroke.mask.radius },
    ...STROKE_KINDS[stroke.mode].data(stroke),
  };
}

export class StrokeList extends EventTarget {
  constructor() {
    super();
    this.strokes = [];
    this.past = [];
    this.future = [];
  }

  get canUndo() {
    return this.past.length > 0;
  }

  get canRedo() {
    return this.future.length > 0;
  }

  /** Strokes that take part in the render (enabled ones), in order. */
  active() {
    return this.strokes.filter((s) => s.enabled);
  }

  add(stroke) {
    this.commit([...this.strokes, stroke], "add");
  }

  remove(id) {
    this.commit(
      this.strokes.filter((s) => s.id !== id),
      "remove",
    );
  }

  toggle(id) {
    this.commit(
      this.strokes.map((s) => (s.id === id ? { ...s, enabled: !s.enabled } : s)),
      "toggle",
    );
  }

  reset() {
    if (this.strokes.length) this.commit([], "reset");
  }

  /** Replace the list (load, share link); `undoable` keeps the old list one undo away. */
  replace(strokes, { undoable = true } = {}) {
    if (undoable) {
      this.commit(strokes, "load");
    } else {
      this.strokes = strokes;
      this.past = [];
      this.future = [];
      this.emit("load");
    }
  }

  undo() {
    if (!this.past.length) return;
    if (isGoto(this.past.at(-1))) return this.emitGoto(this.past.at(-1), "undo");
    this.future.push(this.strokes);
    this.strokes = this.past.pop();
    this.emit("undo");
  }

  redo() {
    if (!this.future.length) return;
    if (isGoto(this.future.at(-1))) return this.emitGoto(this.future.at(-1), "redo");
    this.past.push(this.strokes);
    this.strokes = this.future.pop();
    this.emit("redo");
  }

  commit(strokes, reason) {
    this.past.push(this.strokes);
    if (this.past.length > MAX_STEPS) this.past.splice(0, this.past.length - MAX_STEPS);
    this.future = [];
    this.strokes = strokes;
    this.emit(reason);
  }

  /** The list and its history, for history.js (arrays are shared, not copied). */
  snapshot() {
    return { strokes: this.strokes, past: this.past, future: this.future };
  }

  /** Take over another image's list and history (history.js); emits "change" with `reason`. */
  restore({ strokes, past, future }, reason = "switch") {
    this.strokes = strokes;
    this.past = past;
    this.future = future;
    this.emit(reason);
  }

  emitGoto(entry, direction) {
    this.dispatchEvent(new CustomEvent("goto", { detail: { image: entry.goto, direction } }));
  }

  emit(reason) {
    this.dispatchEvent(new CustomEvent("change", { detail: { reason } }));
  }

  toJSON() {
    return this.strokes.map(strokeData);
  }
}
