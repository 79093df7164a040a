import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../server/config';

const OIDC = { OIDC_AUTHORITY: 'https://idp.example', OIDC_CLIENT_ID: 'c', OIDC_CLIENT_SECRET: 's' };

describe('SILENT_SIGN_IN', () => {
  it('is on by default with the embedded dev IdP, and off with any other provider', () => {
    expect(loadConfig({}).silentSignIn).toBe(true);
    expect(loadConfig(OIDC).silentSignIn).toBe(false);
  });

  it('turns silent sign-in on or off whatever the provider', () => {
    expect(loadConfig({ SILENT_SIGN_IN: '0' }).silentSignIn).toBe(false);
    expect(loadConfig({ ...OIDC, SILENT_SIGN_IN: '1' }).silentSignIn).toBe(true);
    expect(loadConfig({ ...OIDC, SILENT_SIGN_IN: 'true' }).silentSignIn).toBe(true);
  });

  it('refuses any other value, naming the variable and what it expects', () => {
    expect(() => loadConfig({ SILENT_SIGN_IN: 'yes' })).toThrow(ConfigError);
    expect(() => loadConfig({ SILENT_SIGN_IN: 'yes' })).toThrow(/SILENT_SIGN_IN: expects 1\/true or 0\/false/);
  });
});
