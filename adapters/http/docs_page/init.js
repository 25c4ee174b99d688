// Swagger UI on chiffon's own document, and only that one. Swagger UI 3.x reads `?url=` and
// `?configUrl=` from the address and lets them win over this configuration, so any link could
// make it render someone else's document on chiffon's origin: the query is dropped from the
// address before Swagger UI starts, and queryConfigEnabled: false says the same to versions
// that know the option (4.1.3 and later).
"use strict";
window.addEventListener("load", function () {
  if (window.location.search) {
    window.history.replaceState(null, "", window.location.pathname + window.location.hash);
  }
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    queryConfigEnabled: false,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
  });
});
