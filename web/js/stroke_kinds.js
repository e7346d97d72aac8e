// The stroke kinds the page knows, one entry each: the page's twin of server/ganpaint/strokes/kinds.py.
//
// A kind gives: `word` (the stroke panel and the mode buttons), `letter` (its mode in a share link), `overlay`
// (how the canvas shows it: "brush" discs and capsules, "hatched" the same hatched, "boxes" one box per stamp),
// `detail(stroke)` (the panel's words after the concept), and, for a kind with fields of its own, `check(input)`
// (those fields from loose input, checked: makeStroke throws its error), `data(stroke)` (them as saved and sent)
// and `pack`/`unpack` (them in a share link). A new kind: one entry here, its radio button in index.html.

const toInt = (v) => Math.round(v * 10000); // share links store coordinates as ints of 1e-4 (strokes.js)
const fromInt = (n) => Math.round(n) / 10000;
const quantize = (v) => Math.round(v * 10000) / 10000;

const noFields = { check: () => ({}), data: () => ({}), pack: () => [], unpack: () => ({}) };

export const STROKE_KINDS = {
  draw: { ...noFields, word: "unit brush", letter: "d", overlay: "brush", detail: (s) => `(${s.strength})` },
  erase: { ...noFields, word: "erase", letter: "e", overlay: "hatched", detail: (s) => `(${s.strength})` },
  stamp: {
    word: "stamp",
    letter: "s",
    overlay: "boxes",
    detail: (s) => `(style ${s.style + 1})`,
    // context: absent = "respect" (the server's default: the unit brush where the concept does not belong),
    // "ignore" = the template forced (docs/context.md); a share link adds a 0 for "ignore"
    check({ style, size, context }) {
      const st = Number(style ?? 0);
      if (!Number.isInteger(st) || st < 0) throw new Error(`stamp style must be an index >= 0, got ${style}`);
      const wh = Array.isArray(size) ? size.map(Number) : [];
      if (wh.length !== 2 || !wh.every((v) => v > 0 && v <= 1)) throw new Error(`stamp size must be [w, h] in (0, 1], got ${size}`);
      if (context !== undefined && context !== "respect" && context !== "ignore") throw new Error(`stamp context must be "respect" or "ignore", got ${context}`);
      return { style: st, size: wh.map(quantize), ...(context === "ignore" ? { context } : {}) };
    },
    data: (s) => ({ style: s.style, size: [...s.size], ...(s.context ? { context: s.context } : {}) }),
    pack: (s) => [s.style, s.size.map(toInt), ...(s.context === "ignore" ? [0] : [])],
    unpack: ([style, size, respect]) => ({
      style,
      size: Array.isArray(size) ? size.map(fromInt) : size,
      ...(respect === 0 ? { context: "ignore" } : {}),
    }),
  },
};

export const MODES = Object.keys(STROKE_KINDS);

/** '"draw", "erase" or "stamp"': the kinds, for an error message. */
export function expectedModes() {
  const names = MODES.map((mode) => `"${mode}"`);
  return names.length === 1 ? names[0] : `${names.slice(0, -1).join(", ")} or ${names.at(-1)}`;
}

/** The kind a share link's letter names (unknown letters: draw, as links made before stamps read). */
export function modeForLetter(letter) {
  return MODES.find((mode) => STROKE_KINDS[mode].letter === letter) ?? "draw";
}
