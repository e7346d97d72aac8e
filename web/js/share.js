// A painting outside the page: share links (URL hash) and saved JSON files.
//
// A painting is {model, image, layer, strokes: [stroke data]}. The share link packs it into the hash as
//   #model=<id>&image=<n>[&layer=<name>]&strokes=<code>
// where <code> is "z" + base64url(deflate-raw(JSON)) when the browser has CompressionStream, else "j" + base64url(JSON).
// Coordinates are stored as integers in 1e-4 steps (the precision strokes.js records), so a link reproduces the
// stroke list exactly and therefore the image.

import { modeForLetter, STROKE_KINDS } from "./stroke_kinds.js";
import { COORD_SCALE, makeStroke, strokeData } from "./strokes.js";

export const FILE_FORMAT = "ganpaint-painting";
export const FILE_VERSION = 1;

const toInt = (v) => Math.round(v * COORD_SCALE);
const fromInt = (n) => Math.round(n) / COORD_SCALE;

/** Strokes -> compact arrays: [concept, "d"|"e"|"s", strength, enabled 0|1, radius, [x0, y0, dx1, dy1, ...]],
 * stamps with two more: style, [w, h] (ints of 1e-4). */
export function packStrokes(strokes) {
  return strokes.map((s) => {
    const flat = [];
    let px = 0;
    let py = 0;
    for (const [x, y] of s.mask.points) {
      const ix = toInt(x);
      const iy = toInt(y);
      flat.push(ix - px, iy - py);
      px = ix;
      py = iy;
    }
    const row = [s.concept, STROKE_KINDS[s.mode].letter, s.strength, s.enabled === false ? 0 : 1, toInt(s.mask.radius), flat];
    return [...row, ...STROKE_KINDS[s.mode].pack(s)];
  });
}

export function unpackStrokes(packed) {
  if (!Array.isArray(packed)) throw new Error("share link: strokes are not a list");
  return packed.map((row, i) => {
    if (!Array.isArray(row) || (row.length !== 6 && row.length !== 8)) throw new Error(`share link: stroke ${i} is malformed`);
    const [concept, letter, strength, enabled, radius, flat, ...fields] = row;
    const mode = modeForLetter(letter);
    const points = [];
    let x = 0;
    let y = 0;
    for (let k = 0; k + 1 < flat.length; k += 2) {
      x += flat[k];
      y += flat[k + 1];
      points.push([fromInt(x), fromInt(y)]);
    }
    return makeStroke({
      concept,
      mode,
      strength,
      enabled: enabled !== 0,
      mask: { points, radius: fromInt(radius) },
      ...STROKE_KINDS[mode].unpack(fields),
    });
  });
}

function bytesToBase64url(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function base64urlToBytes(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

async function pipeBytes(bytes, stream) {
  const out = new Response(new Blob([bytes]).stream().pipeThrough(stream));
  return new Uint8Array(await out.arrayBuffer());
}

export async function encodeStrokes(strokes) {
  const json = new TextEncoder().encode(JSON.stringify(packStrokes(strokes)));
  if (typeof CompressionStream === "function") {
    return "z" + bytesToBase64url(await pipeBytes(json, new CompressionStream("deflate-raw")));
  }
  return "j" + bytesToBase64url(json);
}

export async function decodeStrokes(code) {
  let bytes = base64urlToBytes(code.slice(1));
  if (code[0] === "z") bytes = await pipeBytes(bytes, new DecompressionStream("deflate-raw"));
  else if (code[0] !== "j") throw new Error(`share link: unknown strokes encoding ${JSON.stringify(code[0])}`);
  return unpackStrokes(JSON.parse(new TextDecoder().decode(bytes)));
}

/** The share URL for a painting, relative to `base` (the page's own URL without its hash). */
export async function shareUrl(painting, base) {
  const params = new URLSearchParams({ model: painting.model, image: String(painting.image) });
  if (painting.layer) params.set("layer", painting.layer);
  if (painting.strokes.length) params.set("strokes", await encodeStrokes(painting.strokes));
  return `${base}#${params.toString()}`;
}

/** Read a painting from a location hash; null when the hash names none. Throws on a corrupt link. */
export async function readShareHash(hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  if (!params.has("model") && !params.has("image")) return null;
  const image = params.has("image") ? Number(params.get("image")) : null;
  if (image !== null && !Number.isInteger(image)) throw new Error(`share link: image must be an integer, got ${params.get("image")}`);
  const code = params.get("strokes");
  return {
    model: params.get("model"),
    image,
    layer: params.get("layer"),
    strokes: code ? await decodeStrokes(code) : [],
  };
}

/** A painting as a JSON document for "save". */
export function paintingToJson(painting) {
  const doc = {
    format: FILE_FORMAT,
    version: FILE_VERSION,
    model: painting.model,
    image: painting.image,
    layer: painting.layer,
    strokes: painting.strokes.map(strokeData),
  };
  return JSON.stringify(doc, null, 1);
}

/** Parse a saved painting; errors name the bad field. */
export function paintingFromJson(text) {
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`painting file is not JSON (${err.message})`);
  }
  if (!doc || doc.format !== FILE_FORMAT) throw new Error(`painting file: format must be "${FILE_FORMAT}", got ${JSON.stringify(doc && doc.format)}`);
  if (doc.version !== FILE_VERSION) throw new Error(`painting file: unsupported version ${JSON.stringify(doc.version)}`);
  if (!Number.isInteger(doc.image)) throw new Error(`painting file: image must be an integer, got ${JSON.stringify(doc.image)}`);
  if (!Array.isArray(doc.strokes)) throw new Error("painting file: strokes must be a list");
  return {
    model: String(doc.model),
    image: doc.image,
    layer: doc.layer || null,
    strokes: doc.strokes.map((s, i) => {
      try {
        return makeStroke(s);
      } catch (err) {
        throw new Error(`painting file: strokes[${i}]: ${err.message}`);
      }
    }),
  };
}
