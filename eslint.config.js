// ESLint (flat config): JavaScript and typescript-eslint's recommended rules everywhere, the
// rules of hooks (and the React Compiler's checks) in the SPA, and a few type-aware rules that
// catch what tsc does not: promises nobody awaits, or passes where a void callback is expected.
import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores(['dist/', 'node_modules/', 'scratch/', '.dev-idp/', 'test/artifacts/', 'test/bench/results/']),
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ['**/*.{ts,tsx}'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      // Koa's app.callback() and our async signal handlers go where Node expects a void
      // function; they handle their own errors. Conditionals and spreads are still checked.
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false, variables: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // Matching control characters is the point where input is checked for them (returnTo, paths).
    rules: { 'no-control-regex': 'off' },
  },
  {
    files: ['server/**', 'test/**', '*.{js,ts}', 'client/**/vite.config.ts'],
    languageOptions: { globals: globals.node },
  },
  {
    // Tests read loosely typed JSON answers.
    files: ['test/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['client/**/*.{ts,tsx}'],
    ignores: ['client/**/vite.config.ts'],
    extends: [reactHooks.configs.flat['recommended-latest']],
    languageOptions: { globals: globals.browser },
  },
);
