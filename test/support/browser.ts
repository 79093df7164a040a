import http from 'node:http';
import https from 'node:https';
import { CookieJar } from 'tough-cookie';

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  url: string;
  json<T = any>(): T;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  form?: Record<string, string>;
  body?: string;
  /** Follow redirects (as a top-level navigation does). Default: false. */
  follow?: boolean;
  /** Send this path exactly as written (no URL normalization of `..` or `%2e`). */
  rawPath?: string;
}

/**
 * A browser-like HTTP client for integration tests: a real cookie jar, real redirects, the dev
 * CA trusted. It records every response it receives so tests can scan them for tokens.
 */
export class TestBrowser {
  readonly jar = new CookieJar();
  readonly received: Response[] = [];
  private readonly agent: https.Agent;

  constructor(ca?: string) {
    this.agent = new https.Agent({ ca, keepAlive: false });
  }

  async request(url: string, options: RequestOptions = {}): Promise<Response> {
    let current = url;
    let method = options.method ?? 'GET';
    let body = options.form ? new URLSearchParams(options.form).toString() : options.body;
    const headers: Record<string, string> = { ...options.headers };
    if (options.form) headers['content-type'] = 'application/x-www-form-urlencoded';
    for (let hop = 0; hop < 20; hop++) {
      const res = await this.once(current, method, headers, body, hop === 0 ? options.rawPath : undefined);
      if (!options.follow || res.status < 300 || res.status >= 400 || !res.headers.location) return res;
      current = new URL(res.headers.location, current).toString();
      method = 'GET';
      body = undefined;
      delete headers['content-type'];
    }
    throw new Error(`too many redirects from ${url}`);
  }

  get(url: string, options: Omit<RequestOptions, 'method'> = {}) {
    return this.request(url, { ...options, method: 'GET' });
  }

  post(url: string, options: Omit<RequestOptions, 'method'> = {}) {
    return this.request(url, { ...options, method: 'POST' });
  }

  /** An API call as the SPA makes it: same origin, X-CSRF header. */
  api(url: string, options: Omit<RequestOptions, 'follow'> = {}) {
    return this.request(url, { ...options, headers: { 'x-csrf': '1', accept: 'application/json', ...options.headers } });
  }

  async cookie(url: string, name: string): Promise<string | undefined> {
    const cookies = await this.jar.getCookies(url);
    return cookies.find((c) => c.key === name)?.value;
  }

  private async once(url: string, method: string, headers: Record<string, string>, body?: string, rawPath?: string): Promise<Response> {
    const parsed = new URL(url);
    const target = { protocol: parsed.protocol, hostname: parsed.hostname, port: parsed.port, path: rawPath ?? `${parsed.pathname}${parsed.search}` };
    const cookie = await this.jar.getCookieString(url);
    const all: Record<string, string> = { ...headers, ...(cookie ? { cookie } : {}) };
    if (body !== undefined) all['content-length'] = String(Buffer.byteLength(body));
    const secure = parsed.protocol === 'https:';
    const res = await new Promise<Response>((resolve, reject) => {
      const req = (secure ? https : http).request({ ...target, method, headers: all, agent: secure ? this.agent : undefined }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: r.statusCode ?? 0, headers: r.headers, body: text, url, json: () => JSON.parse(text) });
        });
        r.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
    for (const setCookie of res.headers['set-cookie'] ?? []) await this.jar.setCookie(setCookie, url, { ignoreError: true });
    this.received.push(res);
    return res;
  }
}

/** The hidden inputs and action of the first form on an HTML page. */
export function parseForm(html: string, baseUrl: string): { action: string; fields: Record<string, string> } {
  const form = /<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) throw new Error(`no form on the page:\n${html.slice(0, 500)}`);
  const fields: Record<string, string> = {};
  for (const input of form[2]!.matchAll(/<input[^>]*>/gi)) {
    const name = /name="([^"]*)"/.exec(input[0])?.[1];
    const value = /value="([^"]*)"/.exec(input[0])?.[1] ?? '';
    if (name) fields[name] = decodeEntities(value);
  }
  return { action: new URL(decodeEntities(form[1]!), baseUrl).toString(), fields };
}

function decodeEntities(value: string): string {
  return value.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))).replace(/&amp;/g, '&').replace(/&quot;/g, '"');
}
