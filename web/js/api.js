// The only module that knows the server's URLs and message shapes (docs/api.md).
//
//   fetchModels(), fetchModel(id, layer), fetchThumbnails(model, ids), renderOnce(...)   REST
//   PaintSocket                                                                           WS /ws/paint
// PaintSocket keeps one websocket open (reconnecting with backoff), sends the whole stroke list as "render"
// messages with growing seq numbers and dispatches:
//   "status" {state: "connecting"|"open"|"closed"|"fallback", detail}
//   "ready"  {model, image, layer, resolution, format, refineFactor}
//   "frame"  {seq, blob, renderMs, roundTripMs, strokeCount}    only frames newer than the last one shown
//   "refined" {seq, blob}    the 4x frame of the newest state (render(list, {refine: true})), never a stale one
//   "error"  {seq, detail}
// Listeners should send the current stroke list on every "ready" (first open, new image, reconnect).
// When the websocket cannot be opened at all it falls back to POST /intervene (one request in flight, latest wins).

import { STROKE_KINDS } from "./stroke_kinds.js";

const HTTP_BASE = new URL(".", document.baseURI);

function url(path) {
  return new URL(path, HTTP_BASE).toString();
}

function wsUrl(path) {
  const u = new URL(path, HTTP_BASE);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.toString();
}

async function getJson(path) {
  const res = await fetch(url(path), { headers: { Accept: "application/json" } });
  if (!res.ok) throw new Error(await errorText(res));
  return res.json();
}

async function errorText(res) {
  try {
    const body = await res.json();
    if (body && typeof body.detail === "string") return body.detail;
    return JSON.stringify(body.detail ?? body);
  } catch {
    return `${res.status} ${res.statusText}`;
  }
}

/** {default_model, models: [{id, name, resolution, default_layer}]} */
export async function fetchModels() {
  return getJson("models");
}

/** {id, name, resolution, layers, paint_layers, default_layer, layer, gallery, concepts: [{name, color, units, ranking, erase_ranking}]} */
export async function fetchModel(id, layer = null) {
  const q = layer ? `?layer=${encodeURIComponent(layer)}` : "";
  return getJson(`models/${encodeURIComponent(id)}${q}`);
}

/** Small previews for the gallery: [{id, src}] with data: URLs. */
export async function fetchThumbnails(model, ids, maxBatch = 16) {
  const out = [];
  for (let i = 0; i < ids.length; i += maxBatch) {
    const res = await fetch(url("generate"), {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ model, ids: ids.slice(i, i + maxBatch), format: "png" }),
    });
    if (!res.ok) throw new Error(await errorText(res));
    const body = await res.json();
    for (const img of body.images) out.push({ id: img.id, src: img.data });
  }
  return out;
}

/** The wire form of a stroke: only enabled strokes, only the fields the server knows. */
export function wireStrokes(strokes) {
  return strokes
    .filter((s) => s.enabled !== false)
    .map((s) => ({
      concept: s.concept,
      mode: s.mode,
      strength: s.strength,
      mask: { points: s.mask.points, radius: s.mask.radius },
      ...STROKE_KINDS[s.mode].data(s),
    }));
}

function pictureQuery({ model, image, upload, layer }) {
  const q = new URLSearchParams();
  if (model) q.set("model", model);
  if (upload) q.set("upload", upload);
  else q.set("image", String(image));
  if (layer) q.set("layer", layer);
  return q;
}

/** A concept's units, k, draw values and measured effects (GET /models/{id}/concepts/{concept}). */
export async function fetchConcept(model, concept, layer = null) {
  const q = layer ? `?layer=${encodeURIComponent(layer)}` : "";
  return getJson(`models/${encodeURIComponent(model)}/concepts/${encodeURIComponent(concept)}${q}`);
}

/** Activation maps of a few units on a picture: {shape, units: [{unit, grid, quantile_99, label, iou}]}. */
export async function fetchActivations(target, units) {
  const q = pictureQuery(target);
  q.set("units", units.join(","));
  return getJson(`activations?${q}`);
}

/** Where a concept can go on a picture: {shape, gain: [[...]], before, accept_gain} (GET /context). */
export async function fetchContext(target, concept, mode, signal) {
  const q = pictureQuery(target);
  q.set("concept", concept);
  q.set("mode", mode);
  const res = await fetch(url(`context?${q}`), { headers: { Accept: "application/json" }, signal });
  if (!res.ok) throw new Error(await errorText(res));
  return res.json();
}

/** One render with raw unit edits (POST /intervene "edits"): a Blob of the image. */
export async function renderEdits({ model, image, upload, layer, edits, signal }) {
  const res = await fetch(url("intervene"), {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "image/png" },
    body: JSON.stringify({ model, image, upload, layer, strokes: [], edits, format: "png" }),
    signal,
  });
  if (!res.ok) throw new Error(await errorText(res));
  return res.blob();
}

/**
 * POST /uploads (docs/projection.md): the picture `file` as the body, or JSON `fields` ({scene} or {data}, model,
 * crop, wait); `query` for the file's options (model, wait). Resolves to the answer ({upload, status, ...}).
 */
export async function createUpload({ file = null, fields = null, query = {} }) {
  const qs = new URLSearchParams(query).toString();
  const init = file
    ? { method: "POST", headers: { "Content-Type": file.type }, body: file }
    : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(fields) };
  const res = await fetch(url(qs ? `uploads?${qs}` : "uploads"), init);
  if (!res.ok) throw new Error(await errorText(res));
  return res.json();
}

/** GET /uploads/{id}/reconstruction.png: what the model made of the picture, as a Blob. */
export async function fetchReconstruction(id) {
  const res = await fetch(url(`uploads/${encodeURIComponent(id)}/reconstruction.png`));
  if (!res.ok) throw new Error(await errorText(res));
  return res.blob();
}

/** One render over REST: resolves to a Blob of the image. */
export async function renderOnce({ model, image, upload, layer, artifacts, strokes, format = "png", quality = 90, signal }) {
  const res = await fetch(url("intervene"), {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: `image/${format}` },
    body: JSON.stringify({ model, image, upload, layer, artifacts, strokes: wireStrokes(strokes), format, quality }),
    signal,
  });
  if (!res.ok) throw new Error(await errorText(res));
  return res.blob();
}

const MIME = { png: "image/png", jpeg: "image/jpeg", webp: "image/webp" };
const MAX_SEQ = 2 ** 32 - 1;

export class PaintSocket extends EventTarget {
  /** format: png | jpeg | webp. */
  constructor({ format = "png", quality = 90 } = {}) {
    super();
    this.format = format;
    this.quality = quality;
    this.ws = null;
    this.target = null; // {model, image, layer}
    this.ready = false;
    this.seq = 0;
    this.shownSeq = -1;
    this.minSeq = 0;
    this.sentAt = new Map(); // seq -> {time, strokeCount}
    this.everOpened = false;
    this.failures = 0;
    this.retryTimer = null;
    this.fallback = false;
    this.restBusy = false;
    this.restQueued = null;
    this.closedByUs = false;
    this.refinedSeq = null; // the seq a "refined" message announced: the next binary frame is its 4x picture
  }

  get connected() {
    return this.ready || this.fallback;
  }

  /** Paint this image; (re)connects if needed. */
  open(target) {
    this.target = { ...target };
    this.ready = false;
    this.minSeq = this.seq + 1; // frames of the previous image (lower seq) are ignored from now on
    this.sentAt.clear();
    if (this.fallback) {
      this.emit("ready", { ...this.target, format: this.format, transport: "rest" });
      return;
    }
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.sendOpen();
    else if (!this.ws || this.ws.readyState !== WebSocket.CONNECTING) this.connect();
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.emit("status", { state: "connecting", detail: this.failures ? `reconnecting (try ${this.failures + 1})` : "connecting" });
    let ws;
    try {
      ws = new WebSocket(wsUrl("ws/paint"));
    } catch (err) {
      this.startFallback(`websocket unavailable (${err.message})`);
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      this.everOpened = true;
      this.failures = 0;
      if (this.target) this.sendOpen();
    };
    ws.onmessage = (ev) => this.onMessage(ev);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      if (this.closedByUs) return;
      this.failures += 1;
      // Never opened after a few tries: the websocket route is blocked (proxy, old server), use REST.
      if (!this.everOpened && this.failures >= 3) {
        this.startFallback("websocket could not be opened; painting over HTTP");
        return;
      }
      const delay = Math.min(5000, 250 * 2 ** Math.min(this.failures, 5));
      this.emit("status", { state: "closed", detail: `server unreachable; retrying in ${(delay / 1000).toFixed(1)} s` });
      this.retryTimer = setTimeout(() => this.connect(), delay);
    };
  }

  sendOpen() {
    const { model, image, upload, layer, artifacts } = this.target; // upload: an id from POST /uploads (upload.js)
    this.ws.send(JSON.stringify({ type: "open", model, image, upload, layer: layer || undefined, artifacts, format: this.format, quality: this.quality }));
  }

  onMessage(ev) {
    if (typeof ev.data === "string") {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg.type === "ready") {
        this.ready = true;
        this.emit("status", { state: "open", detail: "connected" });
        this.emit("ready", { model: msg.model, image: msg.image, upload: msg.upload, psnr: msg.psnr, warning: msg.warning, layer: msg.layer, resolution: msg.resolution, format: msg.format, refineFactor: msg.refine_factor ?? null, transport: "websocket" });
      } else if (msg.type === "refined") {
        this.refinedSeq = msg.seq;
      } else if (msg.type === "progress") {
        this.emit("progress", msg); // an upload projecting (upload.js)
      } else if (msg.type === "error") {
        this.emit("error", { seq: msg.seq, detail: msg.detail });
      }
      return;
    }
    const buf = ev.data;
    if (!(buf instanceof ArrayBuffer) || buf.byteLength < 6) return;
    const view = new DataView(buf);
    const seq = view.getUint32(0, false);
    const renderMs = view.getUint16(4, false) / 10;
    if (this.refinedSeq === seq) {
      this.refinedSeq = null;
      const blob = new Blob([buf.slice(6)], { type: MIME[this.format] });
      if (seq === this.seq && seq === this.shownSeq) this.emit("refined", { seq, blob }); // nothing newer sent
      return;
    }
    this.deliver(seq, new Blob([buf.slice(6)], { type: MIME[this.format] }), renderMs);
  }

  deliver(seq, blob, renderMs) {
    if (seq <= this.shownSeq || seq < this.minSeq) return; // latest wins
    this.shownSeq = seq;
    const sent = this.sentAt.get(seq);
    for (const k of this.sentAt.keys()) if (k <= seq) this.sentAt.delete(k);
    this.emit("frame", {
      seq,
      blob,
      renderMs,
      roundTripMs: sent ? performance.now() - sent.time : null,
      strokeCount: sent ? sent.strokeCount : null,
    });
  }

  /** Send the whole stroke list; returns the seq used (or null when it waits for the connection). `refine`: ask
   * for the state's 4x frame too (models with a refiner; the server sends it unless a newer list comes first).
   * `draft`: a stroke is still being drawn (its erase gets the server's quick fill; the list sent when it ends
   * gets the fitted one: docs/erase.md). */
  render(strokes, { refine = false, draft = false } = {}) {
    if (!this.target) return null;
    if (!this.fallback && !this.ready) return null; // the "ready" listener renders the list then
    this.seq = this.seq >= MAX_SEQ ? 1 : this.seq + 1;
    const seq = this.seq;
    const wire = wireStrokes(strokes);
    this.sentAt.set(seq, { time: performance.now(), strokeCount: wire.length });
    if (this.fallback) {
      this.restQueued = { seq, wire };
      this.pumpRest();
    } else {
      this.ws.send(JSON.stringify({ type: "render", seq, strokes: wire, refine: refine || undefined, draft: draft || undefined }));
    }
    return seq;
  }

  startFallback(detail) {
    this.fallback = true;
    this.emit("status", { state: "fallback", detail });
    if (this.target) this.emit("ready", { ...this.target, format: this.format, transport: "rest" });
  }

  async pumpRest() {
    if (this.restBusy || !this.restQueued) return;
    const { seq, wire } = this.restQueued;
    this.restQueued = null;
    this.restBusy = true;
    const t0 = performance.now();
    try {
      const blob = await renderOnce({ ...this.target, strokes: wire, format: this.format, quality: this.quality });
      this.deliver(seq, blob, performance.now() - t0);
    } catch (err) {
      this.emit("error", { seq, detail: err.message });
    } finally {
      this.restBusy = false;
      this.pumpRest();
    }
  }

  close() {
    this.closedByUs = true;
    clearTimeout(this.retryTimer);
    if (this.ws) this.ws.close();
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
