import { ConfigError, loadConfig } from '../../server/config';

/** The problems loadConfig names for `env` ([] when it loads). */
export function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}
