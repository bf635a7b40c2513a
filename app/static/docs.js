// Swagger UI on the service's own OpenAPI document, from the repository's copy of Swagger UI
// (app/static/vendor): /docs works offline, and no inline script is needed (see the CSP).
/* global SwaggerUIBundle -- defined by vendor/swagger-ui-bundle.js, loaded before this script */
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  // Swagger UI would otherwise send the spec to swagger.io's validator.
  validatorUrl: null,
});
