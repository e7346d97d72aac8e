// "Your picture": upload a PNG/JPEG/WebP (file picker or drag-and-drop) or a fresh procedural scene; the server
// projects it into the generator (POST /uploads, docs/projection.md) while the websocket reports progress; then
// the usual painting. An upload is an image key "upload:<id>"; imageTarget() turns a key into the open target.
//
// Nothing lost: each upload's source is kept in this browser (LocalCopies: a fresh scene's seed, or a file's
// centre square at PREVIEW_PX), so when the server no longer has an upload (expired, another server) restore()
// projects the same picture again under a new id; main.js then moves the painting to it (history.js rename).
// While a file projects, its picture is shown (not a grey square), then the frames; "Show what the model made of
// it" swaps in the generator's own version (GET /uploads/<id>/reconstruction.png); a poor fit gets a warning.

import { createUpload, fetchReconstruction } from "./api.js";

const PREFIX = "upload:";
const TYPES = ["image/png", "image/jpeg", "image/webp"];
const FRESH_MIN = 3_000_000_000; // scene seeds far outside every training range (training used 0..39,999)
const PREVIEW_PX = 256; // the kept copy of a file: its centre square (what the server projects), this size
const STAGES = {
  // stage -> [start of the bar, its share of the bar, plain words]
  queued: [0, 0, "waiting its turn"],
  decoding: [0, 0.02, "reading the picture"],
  encoder: [0.02, 0.03, "finding a starting point"],
  bank: [0.02, 0.03, "finding a starting point"],
  z: [0.05, 0.05, "searching the generator's inputs"],
  features: [0.1, 0.55, "fitting the generator's features"],
  adapted: [0.65, 0.35, "adapting the generator to your picture"],
  done: [1, 0, "done"],
};

export function isUpload(image) {
  return typeof image === "string" && image.startsWith(PREFIX);
}

/** {image} for a generated image id, {upload} for an upload key: the fields of `open` and /intervene. */
export function imageTarget(image) {
  return isUpload(image) ? { image: undefined, upload: image.slice(PREFIX.length) } : { image };
}

/** A file's centre square at PREVIEW_PX as a PNG data URL (what the server projects, smaller). */
async function centreSquare(file) {
  const bitmap = await createImageBitmap(file);
  const side = Math.min(bitmap.width, bitmap.height);
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = Math.min(PREVIEW_PX, side);
  const sx = (bitmap.width - side) / 2;
  const sy = (bitmap.height - side) / 2;
  canvas.getContext("2d").drawImage(bitmap, sx, sy, side, side, 0, 0, canvas.width, canvas.height);
  return canvas.toDataURL("image/png");
}

/** Each upload's source, kept in localStorage: {scene} or {data: a data URL}; the most recent MAX_ITEMS. */
export class LocalCopies {
  static KEY = "ganpaint.uploads";
  static MAX_ITEMS = 12;
  static MAX_CHARS = 2_000_000;

  constructor(storage = window.localStorage) {
    this.storage = storage;
  }

  all() {
    try {
      const doc = JSON.parse(this.storage.getItem(LocalCopies.KEY) ?? "{}");
      return doc && typeof doc === "object" ? doc : {};
    } catch {
      return {};
    }
  }

  get(id) {
    return this.all()[id] ?? null;
  }

  put(id, source) {
    const items = Object.entries({ ...this.all(), [id]: { ...source, at: Date.now() } }).sort((a, b) => b[1].at - a[1].at);
    let kept = items.slice(0, LocalCopies.MAX_ITEMS);
    while (kept.length > 1 && JSON.stringify(Object.fromEntries(kept)).length > LocalCopies.MAX_CHARS) kept = kept.slice(0, -1);
    try {
      this.storage.setItem(LocalCopies.KEY, JSON.stringify(Object.fromEntries(kept)));
    } catch (err) {
      console.warn("could not keep a copy of the picture:", err.message); // quota: the upload still works
    }
  }

  drop(id) {
    const items = this.all();
    delete items[id];
    this.storage.setItem(LocalCopies.KEY, JSON.stringify(items));
  }
}

export class UploadPanel {
  /** root: the .upload-box element; socket: the PaintSocket (its "progress" and "ready" events); model(): the
   * current model id; open(key): open an image key; error(text): show an error; canvas: the PaintCanvas. */
  constructor({ root, socket, model, open, error, canvas }) {
    this.root = root;
    this.model = model;
    this.open = open;
    this.error = error;
    this.canvas = canvas;
    this.copies = new LocalCopies();
    this.input = root.querySelector("#upload-file");
    this.bar = root.querySelector("#upload-progress");
    this.text = root.querySelector("#upload-status");
    this.viewLabel = root.querySelector("#upload-view-label");
    this.view = root.querySelector("#upload-view");
    this.warning = root.querySelector("#upload-warning");
    this.pending = null; // the upload id being projected
    this.shown = null; // the upload id open and ready
    this.input.addEventListener("change", () => {
      const file = this.input.files && this.input.files[0];
      if (file) this.uploadFile(file);
      this.input.value = "";
    });
    root.querySelector("#fresh-scene").addEventListener("click", () => this.freshScene());
    socket.addEventListener("progress", (ev) => {
      if (ev.detail.upload !== this.pending) return;
      this.showProgress(ev.detail.stage, ev.detail.fraction, ev.detail.ahead);
    });
    socket.addEventListener("ready", (ev) => this.onReady(ev.detail));
    this.view.addEventListener("change", () => this.showModelView(this.view.checked));
    // drag-and-drop anywhere on the page
    document.addEventListener("dragover", (ev) => {
      if (ev.dataTransfer && [...ev.dataTransfer.items].some((i) => i.kind === "file")) {
        ev.preventDefault();
        document.body.dataset.dropping = "true";
      }
    });
    document.addEventListener("dragleave", () => delete document.body.dataset.dropping);
    document.addEventListener("drop", (ev) => {
      delete document.body.dataset.dropping;
      const file = ev.dataTransfer && ev.dataTransfer.files[0];
      if (!file) return;
      ev.preventDefault();
      this.uploadFile(file);
    });
  }

  onReady({ upload, psnr, warning }) {
    this.shown = upload ?? null;
    this.viewLabel.hidden = !upload;
    this.view.checked = false;
    this.warning.hidden = !(upload && warning);
    this.warning.textContent = upload && warning ? warning : "";
    if (!upload) return;
    this.canvas.setOverride(null); // the preview gives way to the frames
    document.body.dataset.upload = "ready";
    document.body.dataset.uploadFit = warning ? "poor" : "good";
    if (upload !== this.pending) return;
    this.pending = null;
    this.bar.hidden = true;
    const p = psnr || {};
    const db = p.adapted !== undefined ? `, reconstructed at ${p.adapted.toFixed(1)} dB` : "";
    this.text.textContent = `Your picture (centre square${db}): paint on it`;
  }

  async showModelView(on) {
    const id = this.shown;
    if (!on || !id) {
      this.canvas.setOverride(null);
      return;
    }
    try {
      const bitmap = await createImageBitmap(await fetchReconstruction(id));
      if (this.view.checked && this.shown === id) this.canvas.setOverride(bitmap);
    } catch (err) {
      this.view.checked = false;
      this.error(`What the model made of it: ${err.message}`);
    }
  }

  /** `ahead`: projections before this one on the server (it waits its turn). */
  showProgress(stage, fraction, ahead = 0) {
    const [start, share, words] = STAGES[stage] ?? [0, 0, stage];
    const value = Math.min(1, start + share * (fraction || 0));
    this.bar.hidden = false;
    this.bar.value = value;
    const place = ahead > 0 ? `: ${ahead} ahead of you` : "";
    this.text.textContent =
      stage === "queued"
        ? `Your picture is waiting its turn${place}`
        : `Projecting your picture into the generator: ${words}, ${Math.round(100 * value)}%`;
    document.body.dataset.upload = "projecting";
  }

  async uploadFile(file) {
    if (!TYPES.includes(file.type)) {
      this.error(`Your picture: ${file.type || "this file"} is not a PNG, JPEG or WebP image`);
      return;
    }
    let data = null;
    try {
      data = await centreSquare(file);
    } catch {
      data = null; // the browser cannot decode it; the server says why
    }
    const id = await this.post(() => createUpload({ file, query: { model: this.model(), wait: "false" } }));
    if (id) this.start(id, data ? { model: this.model(), data } : null);
  }

  async freshScene() {
    const scene = FRESH_MIN + Math.floor(Math.random() * 1_000_000_000);
    const id = await this.post(() => createUpload({ fields: this.jsonFields({ scene }) }));
    if (id) this.start(id, { model: this.model(), scene });
  }

  /** Open a new upload, keep its source, and show its picture (if we have one) while it projects. */
  async start(id, source) {
    if (source) this.copies.put(id, source);
    this.open(PREFIX + id);
    if (source?.data && this.pending === id) {
      const img = new Image();
      img.src = source.data;
      await img.decode().catch(() => {});
      if (this.pending === id) this.canvas.setOverride(await createImageBitmap(img));
    }
  }

  /**
   * The server no longer has upload `key`: project its kept source again. Returns the new key, or null when this
   * browser kept nothing of it.
   */
  async restore(key) {
    const old = key.slice(PREFIX.length);
    const source = this.copies.get(old);
    if (!source) return null;
    const fields = source.scene !== undefined ? { scene: source.scene } : { data: source.data };
    const id = await this.post(() => createUpload({ fields: this.jsonFields({ ...fields, model: source.model }) }));
    if (!id) return null;
    this.copies.drop(old);
    this.copies.put(id, source);
    return PREFIX + id;
  }

  jsonFields(fields) {
    return { model: this.model(), ...fields, wait: false };
  }

  /** POST an upload (`request`: an api.js call); its id (now projecting) or null after showing the error. */
  async post(request) {
    this.showProgress("queued", 0);
    this.text.textContent = "Uploading…";
    let answer;
    try {
      answer = await request();
    } catch (err) {
      this.fail(`Your picture: ${err.message}`);
      return null;
    }
    this.pending = answer.upload;
    return answer.upload;
  }

  fail(text) {
    this.bar.hidden = true;
    this.text.textContent = "";
    delete document.body.dataset.upload;
    this.error(text);
  }
}
