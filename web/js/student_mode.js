// Student mode: the painting page in a class. The server switches it on (GET / in a class adds this module and
// data-class-mode="student" to <body>); main.js is unchanged and knows nothing of it.
//
// Before main.js runs, the token this browser got at join (localStorage) becomes the ganpaint_student cookie, so
// the painting websocket names the student. Then: a first screen to join (an optional name, three steps); the
// class name, a Hand in button and the steps on the page; plain labels, with layer and unit strength under
// "Advanced" (and the view: "pixels" by default); a notice while the teacher pauses painting or when the class
// ends; and the painting the server kept, if this page came back without it (main.js opens it through its
// share-link hash). For tests the module
// mirrors its progress on <body>: data-class-joined, data-class-state, data-hand-ins.

import { ApiError, setStudentCookie, StudentApi } from "./class_api.js";
import { SETTINGS_KEY } from "./settings.js";
import { shareUrl } from "./share.js";

const STORE = "ganpaint-class-student";
const POLL_MS = 2000;
const STEPS = [
  "Pick a picture (the row at the top, or Random).",
  "Pick what to paint (tree, grass, sky…) and brush over the picture. Erase takes things away.",
  "Like it? Press Hand in. You can keep painting and hand in again.",
];
const body = document.body;
const $ = (sel) => document.querySelector(sel);

const saved = JSON.parse(localStorage.getItem(STORE) || "null");
if (saved?.token) setStudentCookie(saved.token); // before main.js opens the websocket
preferPixels();

/** A class's default view is "pixels", not the refined "sharp": each refined frame holds the render thread for
 * 60-90 ms, and a 32-student class got a third of the frames with it (docs/classroom.md, "Capacity"). A student
 * who picks "sharp" under Advanced keeps it. */
function preferPixels() {
  try {
    const stored = JSON.parse(localStorage.getItem(SETTINGS_KEY) || "{}");
    if (!stored.scaling) localStorage.setItem(SETTINGS_KEY, JSON.stringify({ ...stored, scaling: "pixels" }));
  } catch {
    // no storage, or unreadable settings: the page's defaults
  }
}

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function stepsList() {
  return el("ol", { className: "class-steps" }, ...STEPS.map((text) => el("li", { textContent: text })));
}

// ---- joining --------------------------------------------------------------------------------------------------

function showJoin(info) {
  const name = el("input", { id: "class-name-input", maxLength: 40, autocomplete: "nickname", placeholder: "optional" });
  const error = el("p", { className: "class-error", role: "alert" });
  const start = el("button", { type: "submit", textContent: "Start painting" });
  const form = el(
    "form",
    { className: "class-join" },
    el("h2", { textContent: info.name }),
    el("p", { textContent: "Paint with a neural network in three steps:" }),
    stepsList(),
    el("label", { htmlFor: "class-name-input", textContent: "Your name (shown to your teacher) " }),
    name,
    start,
    error,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    start.disabled = true;
    try {
      const you = await new StudentApi().join(name.value.trim());
      localStorage.setItem(STORE, JSON.stringify({ token: you.token, id: you.id, class: you.class }));
      setStudentCookie(you.token);
      location.reload(); // the painting websocket opens again, now with the cookie
    } catch (err) {
      error.textContent = err.message;
      start.disabled = false;
    }
  });
  const screen = el("div", { className: "class-screen", id: "class-join" }, form);
  body.append(screen);
  name.focus();
}

// ---- the page in a class ----------------------------------------------------------------------------------------

function relabel() {
  const legend = (text) => [...document.querySelectorAll("legend")].find((l) => l.textContent.trim() === text);
  const concept = legend("Concept");
  if (concept) concept.textContent = "What to paint";
  const mode = legend("Mode");
  if (mode) mode.textContent = "Tool";
  const brush = document.querySelector('input[name="mode"][value="draw"] + span');
  if (brush) brush.textContent = "✎ Brush";
  const strength = document.querySelector('label[for="strength"]');
  if (strength?.firstChild) strength.firstChild.textContent = "Strength (how many units) ";
  const advanced = el("details", { className: "class-advanced" }, el("summary", { textContent: "Advanced" }));
  for (const node of [$(".layer-picker"), $("#strength")?.closest(".slider"), $(".view-options")]) {
    if (node) advanced.append(node);
  }
  $(".tools").append(advanced);
}

function decorate(info) {
  $(".topbar h1").after(el("span", { className: "class-title", id: "class-title", textContent: info.name }));
  const handIn = el("button", { type: "button", id: "hand-in", className: "hand-in", textContent: "Hand in" });
  const note = el("span", { id: "hand-in-note", className: "hand-in-note", role: "status" });
  $(".stage-actions").append(handIn, note);
  handIn.addEventListener("click", () => handInNow(handIn, note));
  $(".tools").prepend(el("section", { className: "class-guide", ariaLabel: "How to paint" }, stepsList()));
  relabel();
  body.append(el("div", { className: "class-screen", id: "class-notice", hidden: true }, el("p", { id: "class-notice-text" })));
  setHandIns(info.you.hand_ins);
}

function setHandIns(n) {
  body.dataset.handIns = String(n);
  if (n) $("#hand-in-note").textContent = `Handed in ✓${n > 1 ? ` (${n} times)` : ""}`;
}

async function handInNow(button, note) {
  button.disabled = true;
  try {
    const done = await api.handIn();
    setHandIns(done.hand_ins);
  } catch (err) {
    note.textContent = err.message;
  } finally {
    setTimeout(() => (button.disabled = false), 1500);
  }
}

function showState(s) {
  body.dataset.classState = s;
  const notice = $("#class-notice");
  if (!notice) return;
  const text = {
    paused: "Eyes on your teacher: painting is paused for a moment.",
    ended: "The class has ended. Thank you for painting!",
  }[s];
  $("#class-notice-text").textContent = text ?? "";
  notice.hidden = !text;
}

async function pollState() {
  for (;;) {
    await new Promise((r) => setTimeout(r, POLL_MS));
    try {
      const info = await api.info();
      showState(info.state);
      if (!info.you && info.state !== "ended") location.reload(); // a new class: join again
    } catch {
      // the server is restarting: the page's own status line says so; try again
    }
  }
}

/** The painting the server kept for this student, when the page came back without it (another tab, a cleared
 * painting history): open it through main.js's share-link hash. */
async function restore(painting) {
  if (!painting?.strokes.length) return;
  for (let i = 0; i < 100 && body.dataset.ready !== "true"; i++) await new Promise((r) => setTimeout(r, 100));
  const same = body.dataset.image === String(painting.image) && Number(body.dataset.strokes || 0) > 0;
  if (same) return;
  location.hash = new URL(await shareUrl(painting, location.href.split("#")[0])).hash;
}

let api = new StudentApi(saved?.token);

async function start() {
  let info;
  try {
    info = await api.info();
  } catch (err) {
    setTimeout(start, 3000);
    return console.warn("class:", err instanceof ApiError ? err.message : err);
  }
  showState(info.state);
  if (!info.you || info.you.id !== saved?.id) {
    api = new StudentApi();
    if (info.state !== "ended") showJoin(info);
    else body.append(el("div", { className: "class-screen" }, el("p", { textContent: "This class has ended." })));
    return;
  }
  body.dataset.classJoined = "true";
  decorate(info);
  showState(info.state);
  restore(info.you.painting);
  pollState();
}

start();
