// Starts Swagger UI on /docs/<service> (gateway/docs.py). A file rather than an inline script, so the
// page's Content-Security-Policy can keep script-src 'self'.
"use strict";
window.addEventListener("load", function () {
  var element = document.getElementById("swagger-ui");
  // The Authorize dialog's client credentials flow posts to the document's tokenUrl with the client id
  // and secret in the Authorization header (client_secret_basic).
  window.ui = SwaggerUIBundle({
    url: element.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null,
    persistAuthorization: false,
    showExtensions: true,
  });
});
