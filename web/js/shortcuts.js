// Keyboard shortcuts: one table (SHORTCUTS) drives both the key handling and the help panel.
//
// bindShortcuts(handlers) listens on the document; handlers maps an action name to a function. "compare" is a
// hold action: handlers.compare(true) on key down, handlers.compare(false) on key up.

export const SHORTCUTS = [
  { keys: ["Ctrl+Z", "⌘Z"], action: "undo", label: "Undo" },
  { keys: ["Ctrl+Shift+Z", "Ctrl+Y", "⌘⇧Z"], action: "redo", label: "Redo" },
  { keys: ["S"], action: "stamp", label: "Stamp mode (concepts with stamp styles)" },
  { keys: ["D"], action: "draw", label: "Unit brush mode" },
  { keys: ["E"], action: "erase", label: "Erase mode" },
  { keys: ["X"], action: "toggle-mode", label: "Switch unit brush / erase" },
  { keys: ["["], action: "brush-smaller", label: "Smaller brush size" },
  { keys: ["]"], action: "brush-larger", label: "Larger brush size" },
  { keys: ["-"], action: "strength-down", label: "Less strength (fewer units)" },
  { keys: ["="], action: "strength-up", label: "More strength (more units)" },
  { keys: ["1", "…", "9"], action: "concept", label: "Choose concept 1–9" },
  { keys: ["M"], action: "overlay", label: "Stroke mask: outline / off / filled" },
  { keys: ["C", "Space"], action: "compare", label: "Hold: original (compare with the unpainted image)" },
  { keys: ["R"], action: "random", label: "Random image" },
  { keys: ["?"], action: "help", label: "This help" },
];

function typingInto(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
  return target.tagName === "INPUT" && !["range", "radio", "checkbox", "button"].includes(target.type);
}

/** Which action a keydown means, or null. */
export function actionForKey(ev) {
  const mod = ev.ctrlKey || ev.metaKey;
  const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
  if (mod && !ev.altKey) {
    if (key === "z") return ev.shiftKey ? "redo" : "undo";
    if (key === "y") return "redo";
    return null;
  }
  if (mod || ev.altKey) return null;
  switch (key) {
    case "s":
      return "stamp";
    case "d":
      return "draw";
    case "e":
      return "erase";
    case "x":
      return "toggle-mode";
    case "[":
      return "brush-smaller";
    case "]":
      return "brush-larger";
    case "-":
    case "_":
      return "strength-down";
    case "=":
    case "+":
      return "strength-up";
    case "m":
      return "overlay";
    case "c":
    case " ":
      return "compare";
    case "r":
      return "random";
    case "?":
      return "help";
    default:
      return /^[1-9]$/.test(key) ? `concept-${key}` : null;
  }
}

export function bindShortcuts(handlers) {
  let comparing = false;
  document.addEventListener("keydown", (ev) => {
    if (typingInto(ev.target) || ev.defaultPrevented) return;
    const action = actionForKey(ev);
    if (!action) return;
    // Space on a focused button presses it (and toggles a focused checkbox); leave that alone.
    if (ev.key === " " && ev.target instanceof Element && ev.target.closest("button, summary, a, input[type=checkbox]")) return;
    ev.preventDefault();
    if (action === "compare") {
      if (!comparing) {
        comparing = true;
        handlers.compare?.(true);
      }
      return;
    }
    if (action.startsWith("concept-")) handlers.concept?.(Number(action.slice(8)) - 1);
    else handlers[action]?.();
  });
  const stopCompare = () => {
    if (comparing) {
      comparing = false;
      handlers.compare?.(false);
    }
  };
  document.addEventListener("keyup", (ev) => {
    if (actionForKey(ev) === "compare") stopCompare();
  });
  window.addEventListener("blur", stopCompare);
}

/** Fill a <tbody> with the shortcut table. */
export function renderShortcutTable(tbody) {
  tbody.replaceChildren(
    ...SHORTCUTS.map(({ keys, label }) => {
      const tr = document.createElement("tr");
      const k = document.createElement("td");
      for (const [i, key] of keys.entries()) {
        if (i) k.append(key === "…" || keys[i - 1] === "…" ? " " : " or ");
        if (key === "…") {
          k.append("…");
          continue;
        }
        const kbd = document.createElement("kbd");
        kbd.textContent = key;
        k.append(kbd);
      }
      const d = document.createElement("td");
      d.textContent = label;
      tr.append(k, d);
      return tr;
    }),
  );
}
