// The API token: kept in sessionStorage only (gone when the tab closes), asked for with a
// small form when the server answers 401. It never goes in a URL.

const KEY = "chiffon.apiToken";

export class TokenStore {
  constructor(storage = window.sessionStorage) {
    this.storage = storage;
  }

  get() {
    return this.storage.getItem(KEY) || "";
  }

  set(token) {
    this.storage.setItem(KEY, token);
  }

  clear() {
    this.storage.removeItem(KEY);
  }
}

// Shows the token dialog until a token is entered; one prompt at a time however many
// calls ask (several requests can fail with 401 at once).
export class TokenPrompt {
  constructor(dialog, tokens) {
    this.dialog = dialog;
    this.tokens = tokens;
    this.form = dialog.querySelector("form");
    this.input = dialog.querySelector("input[name=token]");
    this.reason = dialog.querySelector("[data-role=reason]");
    this.waiting = null;
    // Escape would close the dialog with nothing usable behind it: keep it open.
    dialog.addEventListener("cancel", (event) => event.preventDefault());
  }

  ask(reason) {
    if (this.waiting) return this.waiting;
    this.waiting = new Promise((resolve) => {
      this.reason.textContent = reason;
      this.input.value = "";
      const submit = (event) => {
        event.preventDefault();
        const token = this.input.value.trim();
        if (!token) return;
        this.form.removeEventListener("submit", submit);
        this.tokens.set(token);
        this.dialog.close();
        this.waiting = null;
        resolve(token);
      };
      this.form.addEventListener("submit", submit);
      if (!this.dialog.open) this.dialog.showModal();
      this.input.focus();
    });
    return this.waiting;
  }
}
