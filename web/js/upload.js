// "Your picture": upload a PNG/JPEG/WebP (file picker or drag-and-drop) or a fresh procedural scene; the server
// projects it into the generator (POST /uploads, docs/projection.md) while the websocket reports progress; then
// the usual painting. An upload is an image key "upload:<id>"; imageTarget() turns a key into the open target.

const PREFIX = "upload:";
const TYPES = ["image/png", "image/jpeg", "image/webp"];
const FRESH_MIN = 3_000_000_000; // scene seeds far outside every training range (training used 0..39,999)

export function isUpload(image) {
  return typeof image === "string" && image.startsWith(PREFIX);
}

/** {image} for a generated image id, {upload} for an upload key: the fields of `open` and /intervene. */
export function imageTarget(image) {
  return isUpload(image) ? { image: undefined, upload: image.slice(PREFIX.length) } : { image };
}

async function errorText(res) {
  try {
    const j = await res.json();
    return j.detail || res.statusText;
  } catch {
    return res.statusText;
  }
}

export class UploadPanel {
  /** root: the .upload-box element; socket: the PaintSocket (its "progress" and "ready" events); model(): the
   * current model id; open(key): open an image key; error(text): show an error. */
  constructor({ root, socket, model, open, error }) {
    this.root = root;
    this.model = model;
    this.open = open;
    this.error = error;
    this.input = root.querySelector("#upload-file");
    this.bar = root.querySelector("#upload-progress");
    this.text = root.querySelector("#upload-status");
    this.pending = null; // the upload id being projected
    this.input.addEventListener("change", () => {
      const file = this.input.files && this.input.files[0];
      if (file) this.uploadFile(file);
      this.input.value = "";
    });
    root.querySelector("#fresh-scene").addEventListener("click", () => this.freshScene());
    socket.addEventListener("progress", (ev) => {
      if (ev.detail.upload !== this.pending) return;
      this.showProgress(ev.detail.stage, ev.detail.fraction);
    });
    socket.addEventListener("ready", (ev) => {
      if (!this.pending || ev.detail.upload !== this.pending) return;
      this.pending = null;
      this.bar.hidden = true;
      const p = ev.detail.psnr || {};
      const db = p.adapted !== undefined ? `, reconstructed at ${p.adapted.toFixed(1)} dB` : "";
      this.text.textContent = `Your picture (centre square${db}): paint on it`;
      document.body.dataset.upload = "ready";
    });
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

  showProgress(stage, fraction) {
    const steps = { queued: 0, decoding: 0, bank: 0.02, z: 0.05, features: 0.1, adapted: 0.65, done: 1 };
    const span = { features: 0.55, adapted: 0.35, z: 0.05 };
    const value = (steps[stage] ?? 0) + (span[stage] ?? 0) * (fraction || 0);
    this.bar.hidden = false;
    this.bar.value = Math.min(1, value);
    this.text.textContent = `Projecting your picture into the generator… (${stage})`;
    document.body.dataset.upload = "projecting";
  }

  async uploadFile(file) {
    if (!TYPES.includes(file.type)) {
      this.error(`Your picture: ${file.type || "this file"} is not a PNG, JPEG or WebP image`);
      return;
    }
    const q = new URLSearchParams({ model: this.model(), wait: "false" });
    await this.post(`uploads?${q}`, { method: "POST", headers: { "Content-Type": file.type }, body: file });
  }

  async freshScene() {
    const seed = FRESH_MIN + Math.floor(Math.random() * 1_000_000_000);
    const body = JSON.stringify({ scene: seed, model: this.model(), wait: false });
    await this.post("uploads", { method: "POST", headers: { "Content-Type": "application/json" }, body });
  }

  async post(path, init) {
    this.showProgress("queued", 0);
    this.text.textContent = "Uploading…";
    let res;
    try {
      res = await fetch(new URL(path, document.baseURI), init);
    } catch (err) {
      this.fail(`Your picture: ${err.message}`);
      return;
    }
    if (!res.ok) {
      this.fail(`Your picture: ${await errorText(res)}`);
      return;
    }
    const j = await res.json();
    this.pending = j.upload;
    this.open(PREFIX + j.upload);
  }

  fail(text) {
    this.bar.hidden = true;
    this.text.textContent = "";
    delete document.body.dataset.upload;
    this.error(text);
  }
}
