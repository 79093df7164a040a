/**
 * Which downstream API a request under /api is for. The default API (API_BASE_URL) is mounted
 * at /api; each named API (DOWNSTREAM_APIS) at /api/<name>, and takes that first segment and
 * everything under it from the default API. The segment is matched as received, exactly: a
 * spelling that is not the name (`%74odo`, `TODO`) is the default API's path, and gets the
 * default API's token, never the named API's.
 */
export interface ProxiedApi {
  /** Undefined for the default API. */
  name?: string;
  baseUrl: string;
  /** The token sent to this API is for exactly these scopes (access-token.ts). */
  scopes: readonly string[];
  timeoutMs: number;
  /** The BFF path it is served under: `/api` or `/api/<name>`. */
  mount: string;
}

/** The API serving `rawPath` (the request's path, still percent-encoded): a named one by its first segment, else the default. */
export function apiFor(apis: { byName: ReadonlyMap<string, ProxiedApi>; fallback: ProxiedApi }, rawPath: string): ProxiedApi {
  const segment = /^\/api\/([^/]+)/.exec(rawPath)?.[1];
  return (segment !== undefined && apis.byName.get(segment)) || apis.fallback;
}
