// Wiring: model and image choice, strokes -> server -> frames -> canvas, and the page's buttons and keys.
//
// The stroke list (strokes.js) is the truth. Every change to it, and every pointer move while a stroke is being
// drawn, sends the whole list (plus the live stroke) through PaintSocket at most every SEND_INTERVAL_MS; frames
// come back tagged with their seq and only newer ones are drawn. For tests and tools the page mirrors its
// progress on <body>: data-sent-seq (last render sent), data-frame-seq (last frame drawn), data-ready.

import { fetchModel, fetchModels, fetchThumbnails, PaintSocket, renderOnce } from "./api.js";
import { composePng } from "./export.js";
import { Gallery, randomImageId } from "./gallery.js";
import { PaintingHistory } from "./history.js";
import { PaintCanvas } from "./paint_canvas.js";
import { paintingFromJson, paintingToJson, readShareHash, shareUrl } from "./share.js";
import { bindShortcuts, renderShortcutTable } from "./shortcuts.js";
import { ViewSettings } from "./settings.js";
import { ArtifactToggle } from "./artifacts.js";
import { StampControls } from "./stamps.js";
import { StrokePanel } from "./stroke_panel.js";
import { clamp01, makeStroke, quantize, strokeData, StrokeList } from "./strokes.js";
import { BRUSH_MAX, BRUSH_MIN, Toolbar } from "./toolbar.js";
import { ContextOverlay, UnitExplorer } from "./unit_explorer.js";
import { imageTarget, isUpload, UploadPanel } from "./upload.js";

const SEND_INTERVAL_MS = 30;
const MAX_POINTS_PER_STROKE = 2000; // the server accepts 2048 per polyline
const LOSSLESS_UP_TO = 128; // models this small stream PNG frames: exact pixels, still tiny

const $ = (sel) => document.querySelector(sel);
const body = document.body;

const state = {
  models: [],
  model: null,
  info: null,
  image: null,
  layer: null,
  frameBlob: null,
  refineFactor: null, // from "ready": 4 where the model ships a refiner
  shownSeq: -1,
  openToken: 0,
};

const strokes = new StrokeList();
const paintings = new PaintingHistory(strokes); // every image's strokes and undo history, kept across reloads
const settings = new ViewSettings(body);
const artifacts = new ArtifactToggle(body);
const toolbar = new Toolbar(body);
const stamps = new StampControls(body);
const gallery = new Gallery($(".gallery"));
const canvas = new PaintCanvas({ imageCanvas: $("#image-canvas"), overlayCanvas: $("#overlay-canvas") });
const socket = new PaintSocket({ format: "png" });
new StrokePanel($("#stroke-list"), strokes, colourOf);
const pictureTarget = () => ({ model: state.model, ...imageTarget(state.image), layer: state.layer });
const explorer = new UnitExplorer(body, {
  target: pictureTarget,
  concepts: () => state.info?.concepts ?? [],
  channels: () => state.info?.layers.find((l) => l.name === state.layer)?.feature_shape[0] ?? 1,
  concept: () => toolbar.concept,
});
const where = new ContextOverlay(body, { target: pictureTarget, concept: () => toolbar.concept, mode: () => toolbar.mode });

let live = null; // the stroke under the pointer, not yet in the list
let lastSend = 0;
let sendTimer = null;

function colourOf(concept) {
  return state.info?.concepts.find((c) => c.name === concept)?.color ?? "#888888";
}

function colours() {
  return Object.fromEntries((state.info?.concepts ?? []).map((c) => [c.name, c.color]));
}

function brushRadius() {
  return toolbar.brushSize / 100;
}

// ---- status ---------------------------------------------------------------------------------------------------

function setStatus(stateName, text) {
  const el = $("#status");
  el.dataset.state = stateName;
  $("#status-text").textContent = text;
}

function setMessage(text) {
  const el = $("#stage-message");
  el.textContent = text || "";
  el.hidden = !text;
}

let errorTimer = null;
function showError(text) {
  setMessage(text);
  body.dataset.error = text;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => {
    setMessage("");
    delete body.dataset.error;
  }, 6000);
}

socket.addEventListener("status", (ev) => {
  const { state: s, detail } = ev.detail;
  const text = { open: "Connected", connecting: "Connecting…", closed: "Disconnected", fallback: "Connected over HTTP" }[s];
  setStatus(s, s === "open" ? text : `${text}: ${detail}`);
  if (s === "closed") setMessage("The server went away. Reconnecting…");
  else if (s === "open" || s === "fallback") setMessage("");
});

socket.addEventListener("ready", (ev) => {
  body.dataset.ready = "true";
  state.refineFactor = ev.detail.refineFactor ?? null; // 4 where the model ships a refiner (the "sharp" view)
  applyScaling();
  body.dataset.transport = ev.detail.transport;
  if (ev.detail.transport === "rest") setStatus("fallback", "Connected over HTTP (websocket unavailable)");
  sendNow();
});

socket.addEventListener("error", (ev) => {
  const { seq, detail } = ev.detail;
  body.dataset.errorSeq = String(seq);
  if (seq === null && isUpload(state.image) && /unknown or expired upload id/.test(detail)) {
    recoverUpload(state.image);
    return;
  }
  showError(`Server: ${detail}`);
});

socket.addEventListener("frame", async (ev) => {
  const { seq, blob, renderMs, roundTripMs, strokeCount } = ev.detail;
  const bitmap = await createImageBitmap(blob);
  if (seq <= state.shownSeq) return; // a newer frame finished decoding first
  state.shownSeq = seq;
  state.frameBlob = blob;
  canvas.showFrame(bitmap, { original: strokeCount === 0 });
  body.dataset.frameSeq = String(seq);
  const rt = roundTripMs === null ? "" : ` · round trip ${Math.round(roundTripMs)} ms`;
  $("#latency").textContent = `render ${renderMs.toFixed(1)} ms${rt}`;
});

socket.addEventListener("refined", async (ev) => {
  const { seq, blob } = ev.detail;
  const bitmap = await createImageBitmap(blob);
  if (seq !== state.shownSeq || !settings.sharp) return; // a newer frame is on screen, or the view changed
  state.frameBlob = blob;
  canvas.showFrame(bitmap, { original: canvas.current === canvas.original });
  body.dataset.refinedSeq = String(seq);
});

// ---- rendering ------------------------------------------------------------------------------------------------

function currentList() {
  return live ? [...strokes.active(), live] : strokes.active();
}

function sendNow() {
  clearTimeout(sendTimer);
  sendTimer = null;
  lastSend = performance.now();
  // while a stroke is drawn: drafts (an erase's quick fill); once it ends: the fitted erase, and the 4x frame
  const seq = socket.render(currentList(), { refine: settings.sharp && !live, draft: Boolean(live) });
  if (seq !== null) body.dataset.sentSeq = String(seq);
}

/** Send soon: immediately if the last send is older than SEND_INTERVAL_MS, else once the interval has passed. */
function scheduleSend() {
  const wait = SEND_INTERVAL_MS - (performance.now() - lastSend);
  if (wait <= 0) sendNow();
  else if (!sendTimer) sendTimer = setTimeout(sendNow, wait);
}

function redrawOverlay() {
  canvas.setOverlay({ strokes: strokes.strokes, live, colours: colours(), style: settings.overlay });
}

/** Smooth resampling on screen and in exports: the "smooth" view, and "sharp" where the model has a refiner (its 4x
 * frames; without one "sharp" shows pixels). */
function viewSmooth() {
  return settings.smooth || (settings.sharp && Boolean(state.refineFactor));
}

function applyScaling() {
  $("#canvas-wrap").classList.toggle("pixelated", !viewSmooth());
}

settings.addEventListener("change", (ev) => {
  if (ev.detail.key === "overlay") redrawOverlay();
  if (ev.detail.key === "scaling") {
    applyScaling();
    sendNow(); // a refined frame for "sharp", the model's own frame otherwise
  }
});
applyScaling();

strokes.addEventListener("change", () => {
  redrawOverlay();
  toolbar.setEnabled({ undo: strokes.canUndo, redo: strokes.canRedo, reset: strokes.strokes.length > 0 });
  body.dataset.strokes = String(strokes.strokes.length);
  sendNow();
});

// ---- pointer -> strokes -----------------------------------------------------------------------------------------

const qpoint = ([x, y]) => [quantize(clamp01(x)), quantize(clamp01(y))];

canvas.addEventListener("strokebegin", (ev) => {
  const concept = toolbar.concept;
  if (!concept || state.image === null) return;
  live = {
    concept,
    mode: toolbar.mode,
    strength: Math.min(toolbar.strengthValue, toolbar.conceptInfo()?.units ?? 20),
    enabled: true,
    mask: { points: [qpoint(ev.detail.point)], radius: quantize(brushRadius()) },
  };
  if (live.mode === "stamp") {
    const size = stamps.size.map(quantize);
    Object.assign(live, { style: stamps.style, size, mask: { ...live.mask, radius: quantize(size[0] / 2) } });
    if (stamps.contextRule === "ignore") live.context = "ignore";
  }
  redrawOverlay();
  scheduleSend();
});

canvas.addEventListener("strokemove", (ev) => {
  if (!live) return;
  for (const p of ev.detail.points) {
    if (live.mask.points.length >= MAX_POINTS_PER_STROKE) {
      // A very long drag becomes several strokes, each within the server's polyline limit.
      const last = live.mask.points.at(-1);
      const next = { ...live, mask: { points: [last], radius: live.mask.radius } };
      live = null;
      strokes.add(makeStroke(next));
      live = next;
    }
    live.mask.points.push(qpoint(p));
  }
  redrawOverlay();
  scheduleSend();
});

canvas.addEventListener("strokeend", () => {
  if (!live) return;
  const done = makeStroke(live);
  live = null;
  strokes.add(done); // "change" redraws and sends
});

canvas.addEventListener("strokecancel", () => {
  live = null;
  redrawOverlay();
  sendNow();
});

// ---- models and images ------------------------------------------------------------------------------------------

async function loadModel(id, layer = null) {
  const info = await fetchModel(id, layer);
  state.model = info.id;
  state.info = info;
  state.layer = info.layer || info.default_layer;
  body.dataset.model = info.id;
  socket.format = info.resolution <= LOSSLESS_UP_TO ? "png" : "jpeg";
  canvas.setResolution(info.resolution);
  toolbar.setConcepts(info.concepts);
  artifacts.setModel(info);
  canvas.setBrush(brushRadius(), colourOf(toolbar.concept));
  chooseModeFor(toolbar.concept);
  $("#model-select").value = info.id;
  const layers = info.paint_layers?.length ? info.paint_layers : [state.layer];
  const layerSelect = $("#layer-select");
  layerSelect.replaceChildren(...layers.map((name) => new Option(name, name)));
  layerSelect.value = state.layer;
  layerSelect.closest(".layer-picker").hidden = layers.length < 2;
  gallery.setIds(info.gallery);
  fetchThumbnails(info.id, info.gallery)
    .then((thumbs) => state.model === info.id && gallery.setThumbnails(thumbs))
    .catch((err) => console.warn("thumbnails:", err.message));
  if (!info.concepts.length) showError(`Model ${info.id} has no dissected concepts at ${state.layer}: nothing to paint.`);
}

const sameStrokes = (a, b) => JSON.stringify(a.map(strokeData)) === JSON.stringify(b.map(strokeData));

/**
 * Open an image: its own strokes and undo history come back (history.js), and opening it is a step that undo
 * takes back (`how`: see PaintingHistory.select). Opening the image already open changes nothing. `list` (a
 * loaded file, a share link) then replaces the strokes, as one more undoable step unless `undoable` is false.
 */
function openImage(image, list = null, { how = "open", undoable = true } = {}) {
  const same = image === state.image;
  state.image = image;
  gallery.mark(image);
  body.dataset.image = String(image);
  live = null;
  if (!same) {
    canvas.clearFrames();
    state.shownSeq = -1;
    state.frameBlob = null;
    delete body.dataset.frameSeq;
    fetchOriginal(image);
  }
  if (!same) socket.open(openTarget(image)); // "ready" sends the list
  if (!same) {
    explorer.pictureChanged(); // the unit explorer and the context overlay follow the picture
    where.refresh();
  }
  paintings.select(state.model, image, how);
  if (list && !sameStrokes(list, strokes.strokes)) strokes.replace(list, { undoable });
}

strokes.addEventListener("goto", (ev) => openImage(ev.detail.image, null, { how: ev.detail.direction }));

function openTarget(image) {
  return { model: state.model, ...imageTarget(image), layer: state.layer, artifacts: artifacts.valueFor(image) };
}

// artifacts removed or kept: the same image opened again ("ready" re-sends the strokes), its original refetched
artifacts.addEventListener("change", () => {
  if (state.image === null) return;
  canvas.original = null;
  fetchOriginal(state.image);
  socket.open(openTarget(state.image));
});

/** Drop a share link's #... from the address bar once applied, so a reload restores the stored painting. */
function clearHash() {
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
}

/** The unpainted image for "compare" (frames of an empty list also refresh it). */
function fetchOriginal(image) {
  const token = ++state.openToken;
  if (isUpload(image)) return; // still projecting; its frames of an empty list are the picture itself
  renderOnce({ ...openTarget(image), strokes: [], format: socket.format })
    .then((blob) => createImageBitmap(blob))
    .then((bitmap) => {
      if (token === state.openToken && !canvas.original) canvas.original = bitmap;
    })
    .catch(() => {}); // compare then shows the current frame; the status line reports connection trouble
}

async function openPainting(p) {
  if (p.model && p.model !== state.model) {
    await loadModel(p.model, p.layer);
  } else if (p.layer && p.layer !== state.layer) {
    await loadModel(state.model, p.layer);
    state.image = null; // force a fresh open on the new layer
  }
  const image = p.image ?? state.info.gallery[0] ?? 0;
  openImage(image, p.strokes);
}

gallery.addEventListener("select", (ev) => openImage(ev.detail.image));
const uploads = new UploadPanel({
  root: $("#upload-box"),
  socket,
  model: () => state.model,
  open: (key) => openImage(key),
  error: showError,
  canvas,
});

/** The server no longer has the open upload (expired, restarted without its folder, another server): project the
 * picture this browser kept again and move the painting, with its undo history, to the new id. */
async function recoverUpload(key) {
  setMessage("Your picture is no longer on the server: projecting it again…");
  const fresh = await uploads.restore(key).catch(() => null);
  if (state.image !== key) return; // the user moved on meanwhile
  if (!fresh) {
    showError("Your picture is no longer on the server, and this browser kept no copy of it: upload it again.");
    return;
  }
  paintings.rename(state.model, key, fresh);
  openImage(fresh, null, { how: "quiet" });
  setMessage("");
}

$("#model-select").addEventListener("change", async (ev) => {
  try {
    await loadModel(ev.target.value);
    state.image = null;
    openImage(state.info.gallery[0] ?? randomImageId());
  } catch (err) {
    showError(err.message);
  }
});

$("#layer-select").addEventListener("change", async (ev) => {
  const image = state.image;
  const kept = strokes.toJSON();
  try {
    await loadModel(state.model, ev.target.value);
  } catch (err) {
    showError(err.message);
    return;
  }
  // Strokes whose concept the new layer's dissection lacks are dropped.
  const names = new Set(state.info.concepts.map((c) => c.name));
  state.image = null;
  openImage(image, kept.filter((s) => names.has(s.concept)).map(makeStroke), { undoable: false });
});

// ---- toolbar ----------------------------------------------------------------------------------------------------

toolbar.addEventListener("change", (ev) => {
  const { key } = ev.detail;
  if (key === "brush" || key === "concept") canvas.setBrush(brushRadius(), colourOf(toolbar.concept));
  if (key === "concept") chooseModeFor(toolbar.concept);
  if (key === "mode") showStampControls();
  if (key === "concept" || key === "mode") where.refresh();
});
stamps.addEventListener("change", showStampControls);

/** Stamp is the default mode for concepts with stamp styles (objects); the unit brush for the others. */
function chooseModeFor(concept) {
  stamps.setConcept(toolbar.conceptInfo(concept), state.info?.resolution ?? 64);
  const stampInput = document.querySelector('input[name="mode"][value="stamp"]');
  stampInput.disabled = !stamps.available;
  stampInput.closest("label").title = stamps.available
    ? "Stamp: one instance of the concept, in a style the generator makes, where you click (a drag stamps a row)"
    : `No stamps for ${concept} at this layer: use the unit brush`;
  const preferred = toolbar.conceptInfo(concept)?.default_mode ?? "draw"; // "draw" where stamps measured worse
  if (stamps.available && preferred === "stamp") toolbar.setMode("stamp");
  else if (toolbar.mode === "stamp") toolbar.setMode("draw");
  showStampControls();
}

function showStampControls() {
  const on = toolbar.mode === "stamp" && stamps.available;
  body.dataset.mode = toolbar.mode;
  stamps.show(on);
  canvas.setGhost(on ? stamps.size : null);
}

function download(blob, filename) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function painting() {
  return { model: state.model, image: state.image, layer: state.layer, strokes: strokes.toJSON() };
}

function pageBase() {
  return location.href.split("#")[0];
}

const actions = {
  undo: () => strokes.undo(),
  redo: () => strokes.redo(),
  reset: () => strokes.reset(),
  async download() {
    const size = settings.exportSize; // null: the model's own frame, byte for byte
    const name = `ganpaint-${state.model}-${state.image}`;
    if (size === null || !canvas.current) {
      const blob = state.frameBlob?.type === "image/png" ? state.frameBlob : await canvas.toPngBlob();
      download(blob, `${name}.png`);
    } else {
      download(await composePng([canvas.current], { size, smooth: viewSmooth() }), `${name}-${size}px.png`);
    }
  },
  async "download-pair"() {
    if (!canvas.original || !canvas.current) {
      showError("The original image is not here yet: try again in a moment.");
      return;
    }
    const size = settings.exportSize ?? state.info.resolution;
    const blob = await composePng([canvas.original, canvas.current], { size, smooth: viewSmooth() });
    download(blob, `ganpaint-${state.model}-${state.image}-before-after-${size}px.png`);
  },
  save() {
    download(new Blob([paintingToJson(painting())], { type: "application/json" }), `ganpaint-${state.model}-${state.image}.json`);
  },
  load: () => $("#load-file").click(),
  async share() {
    const link = await shareUrl({ ...painting(), layer: state.layer === state.info.default_layer ? null : state.layer }, pageBase());
    const box = $("#share-box");
    box.hidden = false;
    box.scrollIntoView({ block: "nearest" });
    $("#share-url").value = link;
    $("#share-url").select();
    try {
      await navigator.clipboard.writeText(link);
      $("#share-note").textContent = "Copied.";
    } catch {
      $("#share-note").textContent = "Select and copy the link.";
    }
  },
  help() {
    const dlg = $("#help");
    if (dlg.open) dlg.close();
    else dlg.showModal();
  },
  random: () => gallery.select(randomImageId()),
  stamp: () => stamps.available && toolbar.setMode("stamp"),
  draw: () => toolbar.setMode("draw"),
  erase: () => toolbar.setMode("erase"),
  "toggle-mode": () => toolbar.setMode(toolbar.mode === "draw" ? "erase" : "draw"),
  "brush-smaller": () => toolbar.setBrushSize(Math.max(BRUSH_MIN, toolbar.brushSize - (toolbar.brushSize > 10 ? 2 : 1))),
  "brush-larger": () => toolbar.setBrushSize(Math.min(BRUSH_MAX, toolbar.brushSize + (toolbar.brushSize >= 10 ? 2 : 1))),
  "strength-down": () => toolbar.setStrength(toolbar.strengthValue - 1),
  "strength-up": () => toolbar.setStrength(toolbar.strengthValue + 1),
  overlay: () => settings.cycleOverlay(),
  concept: (i) => toolbar.selectConceptIndex(i),
  compare: (on) => canvas.setComparing(on),
};

toolbar.addEventListener("action", (ev) => actions[ev.detail.name]?.());
bindShortcuts(actions);
renderShortcutTable($("#shortcut-rows"));

$("#load-file").addEventListener("change", async (ev) => {
  const file = ev.target.files[0];
  ev.target.value = "";
  if (!file) return;
  try {
    await openPainting(paintingFromJson(await file.text()));
  } catch (err) {
    showError(err.message);
  }
});

// Hold to compare: pointer on the button (mouse, touch or pen), released anywhere.
const compareButton = $("#compare");
compareButton.addEventListener("pointerdown", (ev) => {
  ev.preventDefault();
  compareButton.setPointerCapture?.(ev.pointerId);
  compareButton.setAttribute("aria-pressed", "true");
  canvas.setComparing(true);
});
for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
  compareButton.addEventListener(type, () => {
    compareButton.setAttribute("aria-pressed", "false");
    canvas.setComparing(false);
  });
}
compareButton.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.repeat) canvas.setComparing(true);
});
compareButton.addEventListener("keyup", (ev) => {
  if (ev.key === "Enter") canvas.setComparing(false);
});

window.addEventListener("hashchange", async () => {
  try {
    const p = await readShareHash(location.hash);
    if (p) await openPainting(p);
    clearHash();
  } catch (err) {
    showError(err.message);
  }
});

// ---- start ------------------------------------------------------------------------------------------------------

async function start() {
  let shared = null;
  try {
    shared = await readShareHash(location.hash);
  } catch (err) {
    showError(err.message);
  }
  let list;
  try {
    list = await fetchModels();
    setMessage("");
  } catch (err) {
    setStatus("closed", `Server unreachable: ${err.message}; retrying`);
    setMessage("Cannot reach the ganpaint server. Retrying…");
    setTimeout(start, 3000);
    return;
  }
  state.models = list.models;
  const select = $("#model-select");
  select.replaceChildren(
    ...list.models.map((m) => {
      const o = document.createElement("option");
      o.value = m.id;
      o.textContent = `${m.name || m.id} (${m.resolution} px)`;
      return o;
    }),
  );
  select.closest(".model-picker").hidden = list.models.length < 2;
  const last = paintings.last; // the image open when the page was last left
  const lastModel = last && list.models.some((m) => m.id === last.model) ? last.model : null;
  const wanted = shared?.model || new URLSearchParams(location.search).get("model") || lastModel || list.default_model;
  try {
    await loadModel(wanted, shared?.layer);
  } catch (err) {
    showError(err.message);
    await loadModel(list.default_model);
  }
  showStampControls();
  const gal = state.info.gallery;
  const lastImage = last?.model === state.model ? last.image : null; // an upload the server lost is projected again
  const image = shared?.image ?? lastImage ?? (gal.length ? gal[Math.floor(Math.random() * gal.length)] : randomImageId());
  openImage(image, shared?.strokes ?? null);
  clearHash();
}

start();
