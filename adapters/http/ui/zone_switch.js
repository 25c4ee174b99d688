// The header's time-zone switch: every timestamp on the page in local time or in UTC.

import { setTimeZone, timeZone, zoneLabel } from "./format.js";

export class ZoneSwitch {
  constructor(button, onChange) {
    this.button = button;
    button.addEventListener("click", () => {
      setTimeZone(timeZone() === "utc" ? "local" : "utc");
      this.show();
      onChange();
    });
    this.show();
  }

  show() {
    const utc = timeZone() === "utc";
    this.button.textContent = utc ? "UTC" : "local time";
    this.button.title = utc
      ? "Times are in UTC: click for this browser's zone"
      : `Times are in this browser's zone (${zoneLabel()}): click for UTC`;
  }
}
