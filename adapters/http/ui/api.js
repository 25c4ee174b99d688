// The REST API as the page uses it: JSON in and out, the bearer token on every call, and
// errors as ApiError carrying the API's {error_code, error_message, trace_id, details}.

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error_message ? body.error_message : `HTTP ${status}`);
    this.status = status;
    this.code = body ? body.error_code : undefined;
    this.details = body ? body.details : undefined;
    this.traceId = body ? body.trace_id : undefined;
  }
}

export class Api {
  // `tokens` gives the current token; `onUnauthorized` runs on every 401 (ask for a token).
  constructor(tokens, onUnauthorized) {
    this.tokens = tokens;
    this.onUnauthorized = onUnauthorized;
  }

  workTypes() {
    return this.request("GET", "/api/v1/work-types");
  }

  status(taskId) {
    return this.request("GET", `/api/v1/status/${encodeURIComponent(taskId)}`);
  }

  events(taskId, after) {
    const id = encodeURIComponent(taskId);
    return this.request("GET", `/api/v1/tasks/${id}/events?after=${after}&limit=500`);
  }

  tasks(query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
    }
    return this.request("GET", `/api/v1/tasks?${params}`);
  }

  dispatch(body) {
    return this.request("POST", "/api/v1/dispatch", body);
  }

  cancel(taskId) {
    return this.request("POST", `/api/v1/cancel/${encodeURIComponent(taskId)}`, {});
  }

  stats(window, step) {
    return this.request("GET", `/api/v1/stats?window=${encodeURIComponent(window)}&step=${encodeURIComponent(step)}`);
  }

  rerun(taskId, newTaskId) {
    return this.request("POST", `/api/v1/tasks/${encodeURIComponent(taskId)}/rerun`, { task_id: newTaskId });
  }

  schedules() {
    return this.request("GET", "/api/v1/schedules");
  }

  schedule(scheduleId) {
    return this.request("GET", `/api/v1/schedules/${encodeURIComponent(scheduleId)}`);
  }

  // pause, resume or trigger
  scheduleAction(scheduleId, action) {
    return this.request("POST", `/api/v1/schedules/${encodeURIComponent(scheduleId)}/${action}`, {});
  }

  async request(method, path, body) {
    const headers = { Accept: "application/json" };
    // Every POST says what it sends: the server answers 415 to a body without it.
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const token = this.tokens.get();
    if (token) headers.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch (err) {
      throw new ApiError(0, { error_message: `cannot reach the server (${err.message})` });
    }
    const data = await response.json().catch(() => null);
    if (response.ok) return data;
    if (response.status === 401) this.onUnauthorized();
    throw new ApiError(response.status, data);
  }
}
