// The class's routes (docs/classroom.md): the only module that knows their URLs and shapes.
//
//   TeacherApi: every call carries the teacher key (X-Teacher-Key); a 403 means a missing or wrong key.
//   StudentApi: the student's token (X-Student-Token); the painting websocket gets it from the ganpaint_student
//   cookie, which setStudentCookie writes.

export const STUDENT_COOKIE = "ganpaint_student";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function call(path, { method = "GET", headers = {}, body, as = "json" } = {}) {
  const init = { method, headers: { ...headers }, cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (!res.ok) {
    let detail = `${res.status} ${res.statusText}`;
    try {
      detail = (await res.json()).detail ?? detail;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(res.status, detail);
  }
  return as === "blob" ? res.blob() : res.json();
}

export class TeacherApi {
  constructor(key) {
    this.headers = { "X-Teacher-Key": key };
  }

  /** Students changed since `since` (thumbnails as data URLs); the server waits up to `wait` s for a change. */
  wall(since = 0, wait = 0) {
    return call(`class/wall?since=${since}&wait=${wait}`, { headers: this.headers });
  }

  joinCode() {
    return call("class/join-code", { headers: this.headers });
  }

  setState(state) {
    return call("class/state", { method: "POST", headers: this.headers, body: { state } });
  }

  setHidden(id, hidden) {
    return call(`class/students/${encodeURIComponent(id)}/hidden`, { method: "POST", headers: this.headers, body: { hidden } });
  }

  /** A PNG blob: the painting ("after") or the picture before it, at the album size. */
  picture(id, which = "after") {
    return call(`class/students/${encodeURIComponent(id)}/picture?which=${which}`, { headers: this.headers, as: "blob" });
  }

  end() {
    return call("class/end", { method: "POST", headers: this.headers });
  }

  album() {
    return call("class/album.zip", { headers: this.headers, as: "blob" });
  }
}

export class StudentApi {
  constructor(token = null) {
    this.headers = token ? { "X-Student-Token": token } : {};
  }

  /** The class (id, name, state) and, for a known token, `you`: id, name, hand_ins, painting. */
  info() {
    return call("class", { headers: this.headers });
  }

  join(name) {
    return call("class/join", { method: "POST", body: { name: name || null } });
  }

  handIn() {
    return call("class/hand-in", { method: "POST", headers: this.headers });
  }
}

/** The websocket's credential: a same-site cookie with the token (the handshake cannot carry headers). */
export function setStudentCookie(token) {
  document.cookie = `${STUDENT_COOKIE}=${encodeURIComponent(token)}; path=/; SameSite=Strict`;
}
