// The dashboard's JavaScript: ESLint's recommended rules, browser modules (vendored code left out).
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["app/static/vendor/**", "node_modules/**", ".venv/**"] },
  js.configs.recommended,
  {
    files: ["app/static/**/*.js"],
    languageOptions: { ecmaVersion: 2024, sourceType: "module", globals: globals.browser },
  },
  {
    files: ["tests/js/**/*.js", "eslint.config.js"],
    languageOptions: { ecmaVersion: 2024, sourceType: "module", globals: globals.node },
  },
];
