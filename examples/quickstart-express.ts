import express from 'express';
import { createSessions, generateKey } from 'tessera-session';
import { session } from 'tessera-session/express';
import { memoryStore } from 'tessera-session/memory';

// In production, load keys from configuration: see docs/keys.md.
const sessions = createSessions({ store: memoryStore(), keys: [generateKey()] });
const app = express();
app.use(session(sessions));

app.get('/', (req, res) => {
  req.session.update('views', (n) => (Number(n) || 0) + 1);
  res.json({ views: req.session.get('views'), csrf: req.session.csrfToken() });
});
app.post('/login', async (req, res) => {
  await req.session.authenticate('alice'); // rotates the token: no session fixation
  res.sendStatus(204);
});

app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
