// The dispatch form: builds a request from the fields, checks what the browser can check
// (parameters must be a JSON object), and shows the API's errors next to the fields named.

import { h, shortId } from "./format.js";

const FIELDS = ["work_type", "parameters", "priority", "timeout_s", "concurrency_key", "max_running"];
// The API names a nested object's field by the object: its errors go next to the key's box.
const SHOWN_AT = { concurrency: "concurrency_key" };

// crypto.randomUUID exists only in secure contexts (https, localhost); a page opened over
// plain http from another host still needs a v4 UUID, so build one from getRandomValues.
export function newTaskId() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

export function parseParameters(text) {
  let value;
  try {
    value = JSON.parse(text.trim() || "{}");
  } catch (err) {
    throw new FieldError("parameters", `not valid JSON: ${err.message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new FieldError("parameters", "must be a JSON object, like {\"seconds\": 3}");
  }
  return value;
}

function optionalNumber(field, text, integer) {
  if (text.trim() === "") return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new FieldError(field, integer ? "must be a whole number" : "must be a number");
  }
  return value;
}

export class DispatchForm {
  constructor(form, api) {
    this.form = form;
    this.api = api;
    this.status = form.querySelector("[data-role=form-status]");
    this.button = form.querySelector("button[type=submit]");
    this.unsent = null; // {key, taskId}: the request not yet accepted, and its task_id
    this.note = form.querySelector("[data-role=work-type-note]");
    this.routes = [];
    this.live = new Set();
    this.liveKey = null;
    this.picked = false; // the user chose a work type: keep it
    form.elements.work_type.addEventListener("change", () => {
      this.picked = true;
      this.showWorkTypeNote();
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  // Options say which work types no live agent serves; until someone picks one, the form
  // proposes the first that an agent serves (a click on Dispatch should not wait forever).
  setWorkTypes(routes) {
    this.routes = routes;
    this.showWorkTypes();
  }

  setLiveAgentTypes(types) {
    const key = [...types].sort().join(",");
    if (key === this.liveKey) return;
    this.liveKey = key;
    this.live = types;
    this.showWorkTypes();
  }

  showWorkTypes() {
    const select = this.form.elements.work_type;
    const chosen = select.value;
    const options = this.routes.map((r) => {
      const served = this.live.has(r.agent_type);
      const advertised = r.source === "advertised" ? " (advertised)" : "";
      const text = `${r.work_type} → ${r.agent_type}${advertised}${served ? "" : " — no agent"}`;
      return h("option", { value: r.work_type, textContent: text, dataset: { served: String(served) } });
    });
    select.replaceChildren(...options);
    const known = this.routes.some((r) => r.work_type === chosen);
    const served = this.routes.find((r) => this.live.has(r.agent_type));
    select.value = known && this.picked ? chosen : (served ?? this.routes[0])?.work_type ?? "";
    this.showWorkTypeNote();
  }

  showWorkTypeNote() {
    const route = this.routes.find((r) => r.work_type === this.form.elements.work_type.value);
    const idle = route !== undefined && !this.live.has(route.agent_type);
    this.note.hidden = !idle;
    this.note.textContent = idle
      ? `no live agent of type ${route.agent_type}: the task waits until one starts`
      : "";
  }

  hasWorkType(workType) {
    return [...this.form.elements.work_type.options].some((o) => o.value === workType);
  }

  request() {
    const f = this.form.elements;
    const body = { work_type: f.work_type.value, parameters: parseParameters(f.parameters.value) };
    const priority = optionalNumber("priority", f.priority.value, true);
    if (priority !== undefined) body.priority = priority;
    const timeout = optionalNumber("timeout_s", f.timeout_s.value, false);
    if (timeout !== undefined) body.timeout_s = timeout;
    const most = optionalNumber("max_running", f.max_running.value, true);
    if (f.concurrency_key.value !== "") {
      body.concurrency = { key: f.concurrency_key.value, max_running: most ?? 1 };
    } else if (most !== undefined) {
      throw new FieldError("concurrency_key", "give a key for max running");
    }
    // The same request keeps its task_id until it is accepted: sent again after a lost answer
    // or a 5xx, dispatch (idempotent on task_id) answers the first answer, never a second task.
    const key = JSON.stringify(body);
    if (!this.unsent || this.unsent.key !== key) this.unsent = { key, taskId: newTaskId() };
    return { task_id: this.unsent.taskId, ...body };
  }

  async submit() {
    this.clearErrors();
    let body;
    try {
      body = this.request();
    } catch (err) {
      if (err instanceof FieldError) return this.showFieldError(err.field, err.message);
      throw err;
    }
    this.setStatus("dispatching…", "busy");
    this.button.disabled = true; // a double click sends one request
    try {
      const answer = await this.api.dispatch(body);
      this.unsent = null;
      this.setStatus(`dispatched ${body.work_type} ${shortId(answer.task_id)} (${answer.status})`, "ok");
    } catch (err) {
      if (err.status >= 400 && err.status < 500) this.unsent = null; // refused: not stored
      this.showApiError(err);
    } finally {
      this.button.disabled = false;
    }
  }

  // 400/1000 details map field -> [messages]; other codes may name a field too (1001: work_type).
  showApiError(err) {
    const details = err.details && typeof err.details === "object" ? err.details : {};
    const named = Object.keys(details).filter((k) => FIELDS.includes(SHOWN_AT[k] || k));
    for (const name of named) {
      const said = [].concat(details[name]).map((m) => (typeof m === "string" ? m : JSON.stringify(m)));
      this.showFieldError(SHOWN_AT[name] || name, `${err.message}: ${said.join(" ")}`);
    }
    const code = err.code ? ` (${err.status}/${err.code})` : "";
    this.setStatus(named.length ? `refused${code}` : `${err.message}${code}`, "error");
  }

  showFieldError(field, message) {
    const slot = this.form.querySelector(`[data-error-for=${field}]`);
    slot.textContent = message;
    this.form.elements[field].setAttribute("aria-invalid", "true");
  }

  clearErrors() {
    for (const slot of this.form.querySelectorAll("[data-error-for]")) slot.textContent = "";
    for (const field of FIELDS) this.form.elements[field].removeAttribute("aria-invalid");
    this.setStatus("", "");
  }

  setStatus(text, kind) {
    this.status.textContent = text;
    this.status.dataset.kind = kind;
  }
}
