import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

// The SPA lives in client/; in dev, Vite proxies /auth and /api to the BFF so the whole
// sign-in and sign-out flow works from Vite's origin.
const bff = process.env.BFF_URL ?? 'http://localhost:3000';

export default defineConfig({
  root: 'client',
  plugins: [react()],
  build: { outDir: '../dist/client', emptyOutDir: true, sourcemap: false },
  server: {
    port: 5173,
    strictPort: true,
    // "Another app" lives in client/another-app but is served on its own origin (:5174), never
    // on the SPA's (Vite's defaults, plus that folder).
    fs: { deny: ['.env', '.env.*', '*.{crt,pem}', '**/.git/**', '**/another-app/**'] },
    proxy: {
      '^/auth/': { target: bff, changeOrigin: false, xfwd: false },
      '^/api(/|$)': { target: bff, changeOrigin: false, xfwd: false },
    },
  },
  test: {
    root: '.',
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
