// The picture and the pointer: shows frames, draws the stroke overlay, turns pointer input into stroke points.
//
// PaintCanvas owns two stacked canvases: the image at the model's native resolution (scaled up crisply by CSS)
// and an overlay at screen resolution for masks and the brush cursor. It never decides what a stroke means;
// it dispatches CustomEvents with normalised points:
//   "strokebegin" {point}, "strokemove" {points}, "strokeend" {}, "strokecancel" {}
// Pointer handling follows signature_pad: one pointer at a time (by pointerId), move/up listeners exist only
// during a stroke, touch-action: none on the surface, points closer than MIN_STEP_PX are dropped.
// The overlay shows the stroke being drawn filled; finished strokes are drawn in the overlay style ("outline",
// "fill" or "off"), the strokes just finished fading from filled to it over FADE_MS. While comparing ("Hold:
// original") the overlay is empty: the original alone.

import { rowCentres } from "./stamps.js";
import { STROKE_KINDS } from "./stroke_kinds.js";

const MIN_STEP_PX = 2;
const FILL_ALPHA = 0.45;
const FADE_MS = 700;

export class PaintCanvas extends EventTarget {
  constructor({ imageCanvas, overlayCanvas }) {
    super();
    this.image = imageCanvas;
    this.overlay = overlayCanvas;
    this.imageCtx = imageCanvas.getContext("2d");
    this.overlayCtx = overlayCanvas.getContext("2d");
    this.pointerId = null;
    this.lastPx = null;
    this.hover = null; // {x, y} normalised, for the brush cursor
    this.brushRadius = 0.05;
    this.cursorColour = "#ffffff";
    this.current = null; // the frame on screen (ImageBitmap)
    this.original = null; // the unpainted frame, for compare
    this.override = null; // a picture shown instead of the frames (an upload's preview or its reconstruction)
    this.comparing = false;
    this.overlayState = { strokes: [], live: null, colours: {}, style: "outline" };
    this.fresh = new Set(); // ids of strokes added while a stroke is being drawn (a long drag splits)
    this.fade = null; // {ids, end}: strokes fading from filled to the overlay style
    this.fadeFrame = null;

    this.onDown = this.onDown.bind(this);
    this.onMove = this.onMove.bind(this);
    this.onUp = this.onUp.bind(this);
    this.onCancel = this.onCancel.bind(this);
    this.onHover = this.onHover.bind(this);
    this.onLeave = this.onLeave.bind(this);
    this.overlay.style.touchAction = "none";
    this.overlay.addEventListener("pointerdown", this.onDown);
    this.overlay.addEventListener("pointermove", this.onHover);
    this.overlay.addEventListener("pointerleave", this.onLeave);
    new ResizeObserver(() => this.resizeOverlay()).observe(this.overlay);
  }

  setResolution(size) {
    if (this.image.width !== size || this.image.height !== size) {
      this.image.width = size;
      this.image.height = size;
    }
    this.image.dataset.resolution = String(size);
  }

  /** Show a decoded frame; `original` marks the unpainted image kept for compare. */
  showFrame(bitmap, { original = false } = {}) {
    if (original) this.original = bitmap;
    this.current = bitmap;
    if (!this.comparing && !this.override) this.paint(bitmap);
  }

  /** Show `bitmap` instead of the frames (null: the frames again); frames keep arriving underneath. */
  setOverride(bitmap) {
    this.override = bitmap;
    this.image.dataset.view = bitmap ? "override" : "frames";
    if (bitmap) this.paint(bitmap);
    else if (this.current) this.paint(this.comparing && this.original ? this.original : this.current);
    this.drawOverlay();
  }

  setComparing(on) {
    this.comparing = on;
    this.paint(this.override ?? (on && this.original ? this.original : this.current));
    this.image.dataset.comparing = on ? "true" : "false";
    this.drawOverlay();
  }

  paint(bitmap) {
    if (!bitmap) return;
    this.setResolution(bitmap.width);
    this.imageCtx.clearRect(0, 0, this.image.width, this.image.height);
    this.imageCtx.drawImage(bitmap, 0, 0);
  }

  /** Forget frames (a new image is being opened). */
  clearFrames() {
    this.current = null;
    this.original = null;
    this.override = null;
    this.image.dataset.view = "frames";
    this.imageCtx.clearRect(0, 0, this.image.width, this.image.height);
  }

  toPngBlob() {
    return new Promise((resolve) => this.image.toBlob(resolve, "image/png"));
  }

  // ---- overlay ------------------------------------------------------------------------------------------------

  /** size: [w, h] of the stamp (0..1 of the image width) to show as a ghost under the pointer, or null (brush). */
  setGhost(size) {
    this.ghost = size;
    this.drawOverlay();
  }

  setBrush(radius, colour) {
    this.brushRadius = radius;
    this.cursorColour = colour || this.cursorColour;
    this.drawOverlay();
  }

  /** strokes: stroke data; live: the stroke being drawn or null; colours: concept -> CSS colour; style: the
   * finished strokes' look ("outline" | "fill" | "off"). Strokes finished by this update fade into the style. */
  setOverlay(state) {
    const before = new Set(this.overlayState.strokes.map((s) => s.id));
    const wasLive = this.overlayState.live !== null;
    Object.assign(this.overlayState, state);
    const { strokes, live } = this.overlayState;
    if (wasLive || live) for (const s of strokes) if (!before.has(s.id)) this.fresh.add(s.id);
    if (!live) {
      if (wasLive && this.fresh.size) this.fade = { ids: this.fresh, end: performance.now() + FADE_MS };
      this.fresh = new Set();
    }
    this.drawOverlay();
  }

  resizeOverlay() {
    const rect = this.overlay.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(rect.width * dpr));
    const h = Math.max(1, Math.round(rect.height * dpr));
    if (this.overlay.width !== w || this.overlay.height !== h) {
      this.overlay.width = w;
      this.overlay.height = h;
    }
    this.drawOverlay();
  }

  drawOverlay() {
    const ctx = this.overlayCtx;
    const { width: W, height: H } = this.overlay;
    ctx.clearRect(0, 0, W, H);
    const now = performance.now();
    if (this.fade && now >= this.fade.end) this.fade = null;
    this.overlay.dataset.fading = this.fade ? "true" : "false";
    if (this.comparing) return; // the original alone
    const { strokes, live, colours, style } = this.overlayState;
    const changing = (s) => this.fresh.has(s.id) || this.fade?.ids.has(s.id);
    if (style !== "off") ctx.drawImage(this.finishedLayer(strokes.filter((s) => s.enabled && !changing(s))), 0, 0);
    for (const s of strokes) {
      if (!s.enabled || !changing(s)) continue;
      const colour = colours[s.concept];
      if (this.fresh.has(s.id) || style === "fill") {
        this.drawFilled(ctx, s, colour, FILL_ALPHA);
      } else {
        const t = (this.fade.end - now) / FADE_MS; // 1 -> 0
        this.drawFilled(ctx, s, colour, FILL_ALPHA * t);
        if (style === "outline") this.drawOutline(ctx, s, colour, 1 - t);
      }
    }
    if (live) this.drawFilled(ctx, live, colours[live.concept], FILL_ALPHA);
    if (this.fade && this.fadeFrame === null) {
      this.fadeFrame = requestAnimationFrame(() => {
        this.fadeFrame = null;
        this.drawOverlay();
      });
    }
    if (this.hover && this.pointerId === null) {
      ctx.save();
      ctx.lineWidth = Math.max(1, W / 400);
      ctx.strokeStyle = "rgba(0,0,0,0.6)";
      ctx.beginPath();
      if (this.ghost) {
        const [gw, gh] = [this.ghost[0] * W, this.ghost[1] * W];
        ctx.fillStyle = "rgba(255,255,255,0.18)";
        ctx.rect(this.hover.x * W - gw / 2, this.hover.y * H - gh / 2, gw, gh);
        ctx.fill();
      } else {
        ctx.arc(this.hover.x * W, this.hover.y * H, this.brushRadius * W, 0, 2 * Math.PI);
      }
      ctx.stroke();
      ctx.setLineDash([4, 4]);
      ctx.strokeStyle = this.cursorColour;
      ctx.stroke();
      ctx.restore();
    }
  }

  /** The finished strokes in the overlay style, drawn once into a canvas kept until they or the style change
   * (a drag then redraws only the live stroke over it). */
  finishedLayer(list) {
    const { width: W, height: H } = this.overlay;
    const { colours, style } = this.overlayState;
    const key = JSON.stringify([W, H, style, colours, list.map((s) => s.id)]);
    const cache = this.finished;
    if (cache && cache.key === key && list.every((s, i) => s === cache.list[i])) return cache.canvas;
    const canvas = cache?.canvas ?? document.createElement("canvas");
    canvas.width = W;
    canvas.height = H;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, W, H);
    for (const s of list) {
      if (style === "fill") this.drawFilled(ctx, s, colours[s.concept], FILL_ALPHA);
      else this.drawOutline(ctx, s, colours[s.concept], 1);
    }
    this.finished = { key, list, canvas };
    return canvas;
  }

  drawFilled(ctx, stroke, colour, alpha) {
    ctx.save();
    ctx.globalAlpha = alpha;
    this.drawStroke(ctx, stroke, colour);
    ctx.restore();
  }

  /** The outline of the stroke's area: a ring in its colour (hatched for erase) with a dark rim, for contrast. */
  drawOutline(ctx, stroke, colour = "#ffffff", alpha = 1) {
    const { width: W, height: H } = this.overlay;
    if (!this.ring || this.ring.width !== W || this.ring.height !== H) {
      this.ring = document.createElement("canvas");
      this.ring.width = W;
      this.ring.height = H;
    }
    const rc = this.ring.getContext("2d");
    const r = stroke.mask.radius * W;
    const lw = Math.max(2, W / 250);
    rc.clearRect(0, 0, W, H);
    rc.globalCompositeOperation = "source-over";
    rc.fillStyle = "rgba(0,0,0,0.55)";
    this.drawStroke(rc, stroke, null, r + lw / 2);
    this.drawStroke(rc, stroke, colour, r);
    rc.globalCompositeOperation = "destination-out";
    this.drawStroke(rc, stroke, "#000", Math.max(0, r - lw));
    rc.globalCompositeOperation = "source-over";
    ctx.save();
    ctx.globalAlpha = alpha;
    ctx.drawImage(this.ring, 0, 0);
    ctx.restore();
  }

  /** Fill the stroke's area (radius `r` px, default its own); colour null keeps ctx's fill style. */
  drawStroke(ctx, stroke, colour = "#ffffff", r = stroke.mask.radius * this.overlay.width) {
    const { width: W, height: H } = this.overlay;
    const pts = stroke.mask.points;
    const overlay = STROKE_KINDS[stroke.mode]?.overlay ?? "brush";
    if (colour !== null) ctx.fillStyle = overlay === "hatched" ? this.hatch(ctx, colour) : colour;
    if (overlay === "boxes") {
      // one box per stamp, grown or shrunk by the outline's offset from the stroke's own radius
      const grow = r - stroke.mask.radius * W;
      const [bw, bh] = [stroke.size[0] * W + 2 * grow, stroke.size[1] * W + 2 * grow];
      ctx.beginPath();
      if (bw > 0 && bh > 0) for (const [x, y] of rowCentres(pts, stroke.size[0])) ctx.rect(x * W - bw / 2, y * H - bh / 2, bw, bh);
      ctx.fill();
      return;
    }
    // Fill discs and capsules (not a wide line) so overlapping segments do not double the alpha.
    ctx.beginPath();
    for (let i = 0; i < pts.length; i++) {
      const x = pts[i][0] * W;
      const y = pts[i][1] * H;
      ctx.moveTo(x + r, y);
      ctx.arc(x, y, r, 0, 2 * Math.PI);
      if (i > 0) {
        const px = pts[i - 1][0] * W;
        const py = pts[i - 1][1] * H;
        const len = Math.hypot(x - px, y - py);
        if (len > 0) {
          const nx = (-(y - py) / len) * r;
          const ny = ((x - px) / len) * r;
          // Same winding as arc() so "nonzero" fills the union (no holes where shapes overlap).
          ctx.moveTo(px + nx, py + ny);
          ctx.lineTo(px - nx, py - ny);
          ctx.lineTo(x - nx, y - ny);
          ctx.lineTo(x + nx, y + ny);
          ctx.closePath();
        }
      }
    }
    ctx.fill("nonzero");
  }

  hatch(ctx, colour) {
    const tile = document.createElement("canvas");
    const n = Math.max(8, Math.round(this.overlay.width / 60));
    tile.width = n;
    tile.height = n;
    const t = tile.getContext("2d");
    t.fillStyle = "rgba(0,0,0,0.35)";
    t.fillRect(0, 0, n, n);
    t.strokeStyle = colour;
    t.lineWidth = n / 3;
    t.beginPath();
    t.moveTo(-n, n * 2);
    t.lineTo(n * 2, -n);
    t.moveTo(0, n * 2);
    t.lineTo(n * 2, 0);
    t.moveTo(-n, n);
    t.lineTo(n, -n);
    t.stroke();
    return ctx.createPattern(tile, "repeat");
  }

  // ---- pointer input ------------------------------------------------------------------------------------------

  normalise(ev) {
    const rect = this.overlay.getBoundingClientRect();
    const x = (ev.clientX - rect.left) / rect.width;
    const y = (ev.clientY - rect.top) / rect.height;
    return { x: Math.min(1, Math.max(0, x)), y: Math.min(1, Math.max(0, y)), px: ev.clientX, py: ev.clientY };
  }

  onHover(ev) {
    if (this.pointerId !== null || ev.pointerType === "touch") return;
    const p = this.normalise(ev);
    this.hover = { x: p.x, y: p.y };
    this.drawOverlay();
  }

  onLeave() {
    this.hover = null;
    this.drawOverlay();
  }

  onDown(ev) {
    if (this.pointerId !== null) return;
    if (ev.pointerType === "mouse" && ev.button !== 0) return;
    ev.preventDefault();
    this.pointerId = ev.pointerId;
    this.overlay.setPointerCapture?.(ev.pointerId);
    this.overlay.addEventListener("pointermove", this.onMove);
    this.overlay.addEventListener("pointerup", this.onUp);
    this.overlay.addEventListener("pointercancel", this.onCancel);
    this.overlay.addEventListener("lostpointercapture", this.onUp);
    const p = this.normalise(ev);
    this.lastPx = p;
    this.hover = null;
    this.dispatchEvent(new CustomEvent("strokebegin", { detail: { point: [p.x, p.y] } }));
  }

  onMove(ev) {
    if (ev.pointerId !== this.pointerId) return;
    const events = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [];
    const points = [];
    for (const e of events.length ? events : [ev]) {
      const p = this.normalise(e);
      if (Math.hypot(p.px - this.lastPx.px, p.py - this.lastPx.py) < MIN_STEP_PX) continue;
      this.lastPx = p;
      points.push([p.x, p.y]);
    }
    if (points.length) this.dispatchEvent(new CustomEvent("strokemove", { detail: { points } }));
  }

  onUp(ev) {
    if (ev.pointerId !== this.pointerId) return;
    this.finish("strokeend");
  }

  onCancel(ev) {
    if (ev.pointerId !== this.pointerId) return;
    this.finish("strokecancel");
  }

  finish(type) {
    const id = this.pointerId;
    this.pointerId = null;
    this.overlay.removeEventListener("pointermove", this.onMove);
    this.overlay.removeEventListener("pointerup", this.onUp);
    this.overlay.removeEventListener("pointercancel", this.onCancel);
    this.overlay.removeEventListener("lostpointercapture", this.onUp);
    if (this.overlay.hasPointerCapture?.(id)) this.overlay.releasePointerCapture(id);
    this.dispatchEvent(new CustomEvent(type, { detail: {} }));
  }
}
