// The teacher's page: the class wall (live thumbnails), spotlight, hide, pause, join code, end class + album.
//
// The key comes in the URL fragment (#key=..., which browsers never send to a server); it is kept in this tab's
// sessionStorage and dropped from the address bar at once, so a projected address bar never shows it. The wall is
// a long poll: GET class/wall?since=<version> answers when something changed (or after 20 s) with the students
// that changed; cards are built with textContent only (names are whatever students typed). For tests the page
// mirrors its progress on <body>: data-wall-version, data-spotlight (the student shown), data-state.

import { TeacherApi } from "./class_api.js";

const KEY_STORE = "ganpaint-teacher-key";
const $ = (sel) => document.querySelector(sel);
const body = document.body;

function readKey() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  const key = params.get("key");
  if (key) {
    sessionStorage.setItem(KEY_STORE, key);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(KEY_STORE);
}

const api = new TeacherApi(readKey() ?? "");
const students = new Map(); // id -> card data (thumbnail kept from earlier polls)
const state = { version: 0, classState: "open", spot: null, which: "after", spotUrl: null, ending: false };

function showMessage(text) {
  $("#message").textContent = text || "";
  $("#message").hidden = !text;
}

// ---- the wall -----------------------------------------------------------------------------------------------

function card(s) {
  const li = document.createElement("li");
  li.className = "card";
  li.dataset.student = s.id;
  const img = document.createElement("img");
  img.alt = "";
  img.className = "thumb";
  const caption = document.createElement("div");
  caption.className = "caption";
  const name = document.createElement("span");
  name.className = "name";
  const mark = document.createElement("span");
  mark.className = "mark";
  caption.append(name, mark);
  const buttons = document.createElement("div");
  buttons.className = "card-actions";
  const spot = document.createElement("button");
  spot.type = "button";
  spot.textContent = "Spotlight";
  spot.addEventListener("click", () => openSpotlight(s.id));
  const hide = document.createElement("button");
  hide.type = "button";
  hide.className = "hide";
  hide.addEventListener("click", () => toggleHidden(li.dataset.student));
  buttons.append(spot, hide);
  li.append(img, caption, buttons);
  return li;
}

function updateCard(li, s) {
  if (s.thumbnail) li.querySelector(".thumb").src = s.thumbnail;
  li.dataset.thumbnailVersion = String(s.thumbnail_version);
  li.querySelector(".name").textContent = s.name || "(no name)";
  li.querySelector(".mark").textContent = s.hand_ins ? `✓ handed in${s.hand_ins > 1 ? ` ×${s.hand_ins}` : ""}` : "";
  li.querySelector(".hide").textContent = s.hidden ? "Show" : "Hide";
  li.classList.toggle("hidden", s.hidden);
  li.classList.toggle("blank", !s.painted);
}

function applyWall(data) {
  for (const s of data.students) {
    const old = students.get(s.id);
    students.set(s.id, { ...old, ...s, thumbnail: s.thumbnail ?? old?.thumbnail });
    let li = document.querySelector(`li[data-student="${CSS.escape(s.id)}"]`);
    if (!li) {
      li = card(s);
      $("#wall").append(li);
    }
    updateCard(li, students.get(s.id));
    if (state.spot === s.id && s.thumbnail) showSpot(); // the projected painting follows the student's strokes
  }
  const c = data.class;
  $("#class-name").textContent = c.name;
  document.title = `${c.name} · class wall`;
  $("#class-count").textContent = `${c.students} ${c.students === 1 ? "student" : "students"}`;
  $("#empty").hidden = c.students > 0;
  setClassState(c.state);
  state.version = data.version;
  body.dataset.wallVersion = String(data.version);
}

function setClassState(s) {
  state.classState = s;
  body.dataset.state = s;
  $("#class-state").textContent = { open: "Painting", paused: "Paused: eyes on you", ended: "Class ended" }[s];
  $("#pause").textContent = s === "paused" ? "Resume painting" : "Pause painting";
  $("#pause").setAttribute("aria-pressed", String(s === "paused"));
  for (const id of ["#pause", "#end"]) $(id).disabled = s === "ended";
  // the class ended elsewhere (another tab) or before this page loaded: its album (this tab's End offers it itself)
  if (s === "ended" && !body.dataset.album && !state.ending) offerAlbum().catch(() => delete body.dataset.album);
}

/** The album of the ended class, as a download link. */
async function offerAlbum() {
  body.dataset.album = "loading";
  const blob = await api.album();
  const link = $("#album-link");
  link.href = URL.createObjectURL(blob);
  link.download = "ganpaint-class-album.zip";
  link.hidden = false;
  body.dataset.album = "ready";
}

async function pollWall() {
  for (;;) {
    try {
      applyWall(await api.wall(state.version, state.version ? 20 : 0));
      showMessage("");
    } catch (err) {
      showMessage(err.status === 403 ? `${err.message}` : `The server is not answering (${err.message}); retrying…`);
      await new Promise((r) => setTimeout(r, err.status === 403 ? 10000 : 2000));
    }
  }
}

async function toggleHidden(id) {
  try {
    await api.setHidden(id, !students.get(id)?.hidden);
  } catch (err) {
    showMessage(err.message);
  }
}

// ---- spotlight ----------------------------------------------------------------------------------------------

function shown() {
  return [...students.values()].filter((s) => !s.hidden && s.painted).map((s) => s.id);
}

function openSpotlight(id) {
  state.spot = id;
  state.which = "after";
  $("#spotlight").hidden = false;
  showSpot();
}

let spotToken = 0;
async function showSpot() {
  const id = state.spot;
  if (!id) return;
  const s = students.get(id);
  const token = ++spotToken;
  $("#spot-which").textContent = state.which === "after" ? "Before" : "After";
  $("#spot-caption").textContent = $("#show-names").checked ? s?.name || "" : "";
  try {
    const blob = await api.picture(id, state.which);
    if (token !== spotToken) return;
    if (state.spotUrl) URL.revokeObjectURL(state.spotUrl);
    state.spotUrl = URL.createObjectURL(blob);
    $("#spot-image").src = state.spotUrl;
    $("#spot-image").alt = state.which === "after" ? "the painting" : "the picture before painting";
    body.dataset.spotlight = id;
    body.dataset.spotWhich = state.which;
  } catch (err) {
    showMessage(err.message);
  }
}

function stepSpot(delta) {
  const ids = shown();
  if (!ids.length) return closeSpotlight();
  const at = ids.indexOf(state.spot);
  openSpotlight(ids[(at + delta + ids.length) % ids.length]);
}

function closeSpotlight() {
  state.spot = null;
  $("#spotlight").hidden = true;
  delete body.dataset.spotlight;
}

const spotActions = {
  prev: () => stepSpot(-1),
  next: () => stepSpot(1),
  toggle: () => {
    state.which = state.which === "after" ? "before" : "after";
    showSpot();
  },
  close: closeSpotlight,
};
for (const b of document.querySelectorAll("[data-spot]")) b.addEventListener("click", () => spotActions[b.dataset.spot]());
$("#show-names").addEventListener("change", showSpot);

document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape") {
    closeSpotlight();
    $("#join").hidden = true;
  }
  if ($("#spotlight").hidden) return;
  if (ev.key === "ArrowLeft") spotActions.prev();
  if (ev.key === "ArrowRight") spotActions.next();
  if (ev.key === "b" || ev.key === "B") spotActions.toggle();
  if (ev.key === "n" || ev.key === "N") $("#show-names").click();
});

// ---- class actions ------------------------------------------------------------------------------------------

$("#pause").addEventListener("click", async () => {
  try {
    await api.setState(state.classState === "paused" ? "open" : "paused");
  } catch (err) {
    showMessage(err.message);
  }
});

$("#show-join").addEventListener("click", async () => {
  try {
    const code = await api.joinCode();
    $("#join-qr").innerHTML = code.qr_svg; // segno's SVG of the URL, made by the server
    $("#join-urls").replaceChildren(...code.urls.map((u) => Object.assign(document.createElement("div"), { textContent: u })));
    $("#join-class").textContent = $("#class-name").textContent;
    $("#join").hidden = false;
  } catch (err) {
    showMessage(err.message);
  }
});
$("#join-close").addEventListener("click", () => ($("#join").hidden = true));

$("#end").addEventListener("click", async () => {
  if (!confirm("End the class? Students can no longer paint or hand in; the album is made now.")) return;
  $("#end").disabled = true;
  state.ending = true;
  showMessage("Ending the class and making the album…");
  try {
    await api.end();
    await offerAlbum();
    showMessage("");
  } catch (err) {
    showMessage(err.message);
    $("#end").disabled = false;
  } finally {
    state.ending = false;
  }
});

pollWall();
