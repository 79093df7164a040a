import { randomUUID } from 'node:crypto';
import type { Context } from 'koa';

/** Helpers shared by the emulator's endpoints: forms in, Entra-shaped errors and pages out. */

/** An OAuth error as Entra's token endpoint renders it: AADSTS code, trace and correlation ids. */
export class EntraError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly aadsts: number,
    description: string,
    /** Entra's `suberror` (e.g. consent_required, which MSAL reads as interaction required). */
    readonly suberror?: string,
  ) {
    super(`AADSTS${aadsts}: ${description}`);
  }

  body() {
    return {
      error: this.error,
      error_description: `${this.message} Trace ID: ${randomUUID()} Correlation ID: ${randomUUID()} Timestamp: ${new Date().toISOString()}`,
      error_codes: [this.aadsts],
      ...(this.suberror ? { suberror: this.suberror } : {}),
      timestamp: new Date().toISOString(),
      trace_id: randomUUID(),
      correlation_id: randomUUID(),
      error_uri: `https://login.microsoftonline.com/error?code=${this.aadsts}`,
    };
  }
}

export const invalidRequest = (aadsts: number, description: string) => new EntraError(400, 'invalid_request', aadsts, description);
export const invalidGrant = (aadsts: number, description: string) => new EntraError(400, 'invalid_grant', aadsts, description);

/** Errors before a trustworthy redirect URI is known are shown on Entra's own page, never redirected. */
export function errorPage(ctx: Context, err: EntraError): void {
  ctx.status = err.status;
  ctx.type = 'html';
  ctx.body = page('Sign in', `<h1>Sorry, but we're having trouble signing you in.</h1><p id="error">${escapeHtml(err.message)}</p>`);
}

export async function readForm(ctx: Context, limitBytes = 64 * 1024): Promise<URLSearchParams> {
  if (ctx.request.type !== 'application/x-www-form-urlencoded') {
    throw invalidRequest(900144, "The request body must contain the following parameter: 'grant_type'.");
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) throw invalidRequest(9002313, 'Invalid request. Request is malformed or invalid.');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** A parameter that may appear at most once (a repeated one is a malformed request). */
export function single(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  if (values.length > 1) throw invalidRequest(9002313, 'Invalid request. Request is malformed or invalid.');
  return values[0] || undefined;
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><main>${body}</main></body></html>`;
}
