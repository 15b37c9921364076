/**
 * The demo over HTTP, racing parallel logins with the old password against a password change:
 * no login that checked the old password may keep a session.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, type DemoProcess, signedIn, startDemo } from './helpers.js';

let demo: DemoProcess;

beforeAll(async () => {
  demo = await startDemo({ TESSERA_LOGIN_LIMIT: '0' });
});

afterAll(async () => {
  await demo?.stop();
});

describe('demo: logins racing a password change', () => {
  it('leaves no session to a login that used the old password, and answers 401, never 5xx', async () => {
    const owner = await signedIn(demo.url, 'alice');
    const racers = Array.from({ length: 30 }, () => new Client(demo.url));
    await Promise.all(racers.map((c) => c.csrf()));
    const logins = racers.map((c, i) =>
      // Spread over the password change (two scrypt hashes, each a few hundred ms here): some
      // read the old hash before the change stores the new one and finish after it.
      new Promise((resolve) => setTimeout(resolve, i * 50)).then(() =>
        c.login('alice', 'alice-password'),
      ),
    );
    const change = owner.post('/api/password', {
      json: { current: 'alice-password', next: 'a new long passphrase' },
    });
    const answers = await Promise.all(logins);
    expect((await change).status).toBe(204);
    for (const a of answers) {
      expect([303, 401]).toContain(a.status);
      if (a.status === 401) {
        expect(['invalid_credentials', 'session_revoked']).toContain(
          a.json<{ error: string }>().error,
        );
      }
    }
    for (const c of racers) expect((await c.get('/api/me')).status).toBe(401);
    expect((await owner.get('/api/me')).status).toBe(200);
    const sessions = await owner.get('/api/sessions');
    expect(sessions.json<unknown[]>()).toHaveLength(1);
  }, 60_000);
});
