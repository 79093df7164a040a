import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

// "Another app" on its own origin (http://localhost:5174, registered at the dev IdP as the
// public client `another-app`), never on the BFF's. `npm run dev` serves it with hot reload;
// the browser tests serve its build (dist/another-app) with a config.json of their own.
const authority = process.env.ANOTHER_APP_AUTHORITY ?? `https://localhost:${process.env.DEV_IDP_PORT ?? 4443}`;

/** The page learns the IdP at run time from /config.json (the tests' IdP has a random port). */
function configJson(): Plugin {
  const serve = (_req: unknown, res: import('node:http').ServerResponse) => {
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Cache-Control', 'no-store');
    res.end(JSON.stringify({ authority }));
  };
  return {
    name: 'another-app-config',
    configureServer: (server) => void server.middlewares.use('/config.json', serve),
    configurePreviewServer: (server) => void server.middlewares.use('/config.json', serve),
  };
}

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  publicDir: false,
  // Its own dependency cache: two dev servers optimizing into one folder invalidate each other.
  cacheDir: fileURLToPath(new URL('../../node_modules/.vite/another-app', import.meta.url)),
  plugins: [configJson()],
  build: { outDir: fileURLToPath(new URL('../../dist/another-app', import.meta.url)), emptyOutDir: true },
  server: { port: 5174, strictPort: true },
  preview: { port: 5174, strictPort: true },
});
