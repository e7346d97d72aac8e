// Every image's painting and undo history, kept while the page is open and across reloads (localStorage).
//
// Each (model, image) has a record {strokes, past, future} (the StrokeList's state for that image). The
// StrokeList holds the current image's record; select() parks it here and restores the other image's, so
// switching images and back finds the painting and its undo history as they were. Opening another image is a
// step: the opened image's past gets {goto: previous image}, so undo there goes back to the previous image (and
// redo from there forward again). Opening the image already open changes nothing.
//
// Stored under STORAGE_KEY as JSON {version: STORAGE_VERSION, last: {model, image}, records: {"model/image":
// {used, pool, now, past, future}}}: `pool` holds each stroke once (id -> stroke data without `enabled`), the
// lists are arrays of stroke ids (negative: hidden) or {goto: image}. Bounded: the MAX_RECORDS images used most
// recently, MAX_STEPS undo/redo steps each, MAX_CHARS characters in all (older images, then older steps, are
// dropped first). A store of another version, or one that cannot be read, is ignored (and replaced on save).

import { isGoto, makeStroke, MAX_STEPS, strokeData } from "./strokes.js";

/** An image key: a generated image id (an integer) or an upload's "upload:<id>". */
const isImageKey = (image) => Number.isInteger(image) || (typeof image === "string" && image.startsWith("upload:"));

export const STORAGE_KEY = "ganpaint.paintings";
export const STORAGE_VERSION = 1;
export const MAX_RECORDS = 40;
export const MAX_CHARS = 1_500_000;
const SAVE_DELAY_MS = 250;

function defaultStorage() {
  try {
    return window.localStorage;
  } catch {
    return null; // storage disabled: history lives while the page is open
  }
}

const emptyRecord = () => ({ strokes: [], past: [], future: [], used: 0 });

/** A record as JSON-able data with every stroke stored once. */
export function packRecord(rec) {
  const pool = {};
  const list = (strokes) =>
    strokes.map((s) => {
      if (!pool[s.id]) {
        const data = strokeData(s);
        delete data.enabled; // stored in the sign of the id
        pool[s.id] = data;
      }
      return s.enabled ? s.id : -s.id;
    });
  const entry = (e) => (isGoto(e) ? { goto: e.goto } : list(e));
  return { used: rec.used, pool, now: list(rec.strokes), past: rec.past.map(entry), future: rec.future.map(entry) };
}

/** The inverse of packRecord (fresh stroke ids); throws on malformed data. */
export function unpackRecord(packed) {
  const made = new Map(); // signed stored id -> stroke
  const stroke = (signed) => {
    if (!made.has(signed)) {
      const data = packed.pool[Math.abs(signed)];
      if (!data) throw new Error(`stored painting: stroke ${signed} missing`);
      const base = made.get(Math.abs(signed)) ?? makeStroke({ ...data, enabled: true });
      made.set(Math.abs(signed), base);
      made.set(-Math.abs(signed), { ...base, enabled: false });
    }
    return made.get(signed);
  };
  const list = (ids) => {
    if (!Array.isArray(ids)) throw new Error("stored painting: a list is not an array");
    return ids.map(stroke);
  };
  const entry = (e) => {
    if (Array.isArray(e)) return list(e);
    if (e && isImageKey(e.goto)) return { goto: e.goto };
    throw new Error("stored painting: bad history entry");
  };
  return {
    strokes: list(packed.now),
    past: (packed.past ?? []).map(entry).slice(-MAX_STEPS),
    future: (packed.future ?? []).map(entry).slice(-MAX_STEPS),
    used: Number(packed.used) || 0,
  };
}

export class PaintingHistory extends EventTarget {
  constructor(list, storage = defaultStorage()) {
    super();
    this.list = list;
    this.storage = storage;
    this.records = new Map(); // "model/image" -> record
    this.model = null;
    this.image = null;
    this.last = null; // {model, image} open when the page was last left
    this.saveTimer = null;
    this.read();
    list.addEventListener("change", () => this.scheduleSave());
    window.addEventListener("pagehide", () => this.save());
  }

  key(model, image) {
    return `${model}/${image}`;
  }

  record(model, image) {
    const k = this.key(model, image);
    if (!this.records.has(k)) this.records.set(k, emptyRecord());
    return this.records.get(k);
  }

  /** Copy the StrokeList's state into the current image's record. */
  park() {
    if (this.model === null) return;
    const rec = this.record(this.model, this.image);
    Object.assign(rec, this.list.snapshot());
    rec.used = Date.now();
  }

  /**
   * Make (model, image) current and give the StrokeList its painting and history. `how`: "open" (a step that
   * undo takes back), "undo" / "redo" (following a {goto} entry), "quiet" (no step). Returns false when that
   * image is already current (nothing changes).
   */
  select(model, image, how = "open") {
    if (model === this.model && image === this.image) return false;
    this.park();
    const prev = this.model === model ? this.record(model, this.image) : null;
    const rec = this.record(model, image);
    if (prev) {
      const back = { goto: this.image };
      if (how === "open") {
        rec.past.push(back);
        if (rec.past.length > MAX_STEPS) rec.past.splice(0, rec.past.length - MAX_STEPS);
      } else if (how === "undo") {
        prev.past.pop(); // the goto entry that was followed
        rec.future.push(back);
      } else if (how === "redo") {
        prev.future.pop();
        rec.past.push(back);
      }
    }
    this.model = model;
    this.image = image;
    rec.used = Date.now();
    this.list.restore(rec, "switch");
    return true;
  }

  /**
   * An image got a new key (an upload projected again under a new id after the server lost it): its painting and
   * undo history move to the new key, and every {goto} that named the old key names the new one.
   */
  rename(model, from, to) {
    if (from === to) return;
    if (this.model === model && this.image === from) {
      this.park();
      this.image = to;
    }
    const rec = this.records.get(this.key(model, from));
    if (rec) {
      this.records.delete(this.key(model, from));
      this.records.set(this.key(model, to), rec);
    }
    const fix = (entries) => entries.forEach((e) => isGoto(e) && e.goto === from && (e.goto = to));
    for (const [k, r] of this.records) {
      if (k.startsWith(`${model}/`)) {
        fix(r.past);
        fix(r.future);
      }
    }
    this.scheduleSave();
  }

  // ---- storage --------------------------------------------------------------------------------------------------

  read() {
    let doc = null;
    try {
      doc = JSON.parse(this.storage?.getItem(STORAGE_KEY) ?? "null");
    } catch (err) {
      console.warn("stored paintings unreadable, starting afresh:", err.message);
    }
    if (!doc || doc.version !== STORAGE_VERSION || typeof doc.records !== "object") return;
    for (const [k, packed] of Object.entries(doc.records)) {
      try {
        this.records.set(k, unpackRecord(packed));
      } catch (err) {
        console.warn(`stored painting ${k} dropped:`, err.message);
      }
    }
    if (doc.last && typeof doc.last.model === "string" && isImageKey(doc.last.image)) this.last = doc.last;
  }

  scheduleSave() {
    clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => this.save(), SAVE_DELAY_MS);
  }

  /** The store as text within the bounds (the current image is kept longest). */
  serialize() {
    this.park();
    const current = this.model === null ? null : this.key(this.model, this.image);
    const keep = [...this.records.entries()]
      .filter(([k, r]) => k === current || r.strokes.length || r.past.length || r.future.length)
      .sort(([ka, a], [kb, b]) => (kb === current) - (ka === current) || b.used - a.used)
      .slice(0, MAX_RECORDS);
    const packed = keep.map(([k, r]) => [k, packRecord(r)]);
    const last = this.model === null ? this.last : { model: this.model, image: this.image };
    const text = () => JSON.stringify({ version: STORAGE_VERSION, last, records: Object.fromEntries(packed) });
    let out = text();
    while (out.length > MAX_CHARS) {
      if (packed.length > 1) {
        packed.pop(); // the least recently used image
      } else {
        const [k, r] = keep[0] ?? [];
        if (!r || (!r.past.length && !r.future.length)) break;
        keep[0] = [k, { ...r, past: r.past.slice(Math.ceil(r.past.length / 2)), future: r.future.slice(Math.ceil(r.future.length / 2)) }];
        packed[0] = [k, packRecord(keep[0][1])];
      }
      out = text();
    }
    return out;
  }

  save() {
    clearTimeout(this.saveTimer);
    this.saveTimer = null;
    if (!this.storage) return;
    try {
      this.storage.setItem(STORAGE_KEY, this.serialize());
      document.body.dataset.savedAt = String(Date.now());
    } catch (err) {
      console.warn("could not store the paintings:", err.message); // quota: the page still works
    }
  }
}
