/**
 * A peer of the BFF as a new user of Express would build it: Express 5, express-openid-connect
 * (Auth0's middleware: sign-in with the code flow, the session and its tokens in an encrypted
 * cookie) and http-proxy-middleware forwarding /api/* with the user's access token, refreshed
 * when expired as express-openid-connect's documentation shows. A bench server script: prints
 * `bench.ready` with its URL. Settings come in the environment; the secrets on stdin (JSON).
 * Trusts the dev IdP's CA through NODE_EXTRA_CA_CERTS, set by whoever starts it.
 */
import type { NextFunction, Request, Response } from 'express';
import express from 'express';
import { auth } from 'express-openid-connect';
import { createProxyMiddleware } from 'http-proxy-middleware';

const { BENCH_ISSUER: issuer, BENCH_UPSTREAM: upstream, BENCH_PORT: port, BENCH_SCOPE: scope, BENCH_CLIENT_ID: clientId } = process.env;
if (!issuer || !upstream || !port || !scope || !clientId) throw new Error('BENCH_ISSUER, BENCH_UPSTREAM, BENCH_PORT, BENCH_SCOPE and BENCH_CLIENT_ID are required');
let input = '';
for await (const chunk of process.stdin) input += String(chunk);
const { clientSecret, secret } = JSON.parse(input) as { clientSecret: string; secret: string };

const baseURL = `http://localhost:${port}`;
const app = express();
app.use(
  auth({
    issuerBaseURL: issuer,
    baseURL,
    clientID: clientId,
    clientSecret,
    secret,
    authRequired: true,
    idpLogout: false,
    // The dev IdP takes the client secret in the body.
    clientAuthMethod: 'client_secret_post',
    // Registered at the dev IdP as a BFF origin's callback.
    routes: { callback: '/auth/callback' },
    authorizationParams: { response_type: 'code', scope },
  }),
);

interface WithToken extends Request {
  bearer?: string;
}
app.use('/api', async (req: WithToken, res: Response, next: NextFunction) => {
  try {
    let token = req.oidc.accessToken;
    if (!token) {
      res.status(401).json({ error: 'no_access_token' });
      return;
    }
    if (token.isExpired()) token = await token.refresh();
    req.bearer = `Bearer ${token.access_token}`;
    next();
  } catch (err) {
    next(err);
  }
});
app.use(
  '/api',
  createProxyMiddleware<WithToken, Response>({
    target: upstream,
    changeOrigin: true,
    on: {
      proxyReq: (proxyReq, req) => {
        proxyReq.setHeader('authorization', req.bearer ?? '');
        // The session cookie (tokens inside) is for this server, not for the API.
        proxyReq.removeHeader('cookie');
      },
    },
  }),
);

const server = app.listen(Number(port), 'localhost', () => {
  process.stdout.write(`${JSON.stringify({ event: 'bench.ready', url: baseURL })}\n`);
});
process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
