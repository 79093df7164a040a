import type { ErrorCode } from '../shared/api';

/**
 * The one error type the BFF throws on purpose. `expose` says whether `message` may reach the
 * client; the outermost middleware (http/problem.ts) renders it as `{ error: code, message }`.
 */
export class HttpError extends Error {
  readonly expose: boolean;
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; headers?: Record<string, string>; signInUrl?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HttpError';
    this.expose = status < 500 || status === 502 || status === 503 || status === 504;
    this.headers = options?.headers;
    this.signInUrl = options?.signInUrl;
  }
  readonly headers?: Record<string, string>;
  /** For `reauthenticate`: the same-origin sign-in that can satisfy it (shared/api.ts Problem). */
  readonly signInUrl?: string;
}

export const badRequest = (code: ErrorCode, message: string) => new HttpError(400, code, message);
export const unauthenticated = (message = 'Sign in first.') => new HttpError(401, 'unauthenticated', message);

/** A store (Keyv, Redis) failed or timed out: fail closed. */
export class StoreUnavailableError extends HttpError {
  constructor(cause: unknown) {
    super(503, 'store_unavailable', 'The session store is unavailable; try again shortly.', { cause, headers: { 'Retry-After': '1' } });
    this.name = 'StoreUnavailableError';
  }
}
