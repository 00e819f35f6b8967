// A marketplace backend that receives souk's webhooks (Node, no dependencies).
// It checks each delivery's signature and timestamp, handles each id once,
// and "emails" a vendor who left messages unread.
//   SOUK_WEBHOOK_SECRET=... PORT=4000 node server.mjs
import http from 'node:http';
import crypto from 'node:crypto';

const secret = process.env.SOUK_WEBHOOK_SECRET;
if (!secret) throw new Error('set SOUK_WEBHOOK_SECRET (the secret souk signs with)');
const port = Number(process.env.PORT ?? 4000);
const TOLERANCE_SECONDS = 5 * 60; // older (or future) timestamps are replays
const handled = new Set(); // a real backend keeps the ids in its database

function verified(req, body) {
  const timestamp = String(req.headers['souk-webhook-timestamp'] ?? '');
  const signature = String(req.headers['souk-webhook-signature'] ?? '');
  if (!/^\d+$/.test(timestamp)) return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) return false;
  const hmac = crypto.createHmac('sha256', secret).update(`${timestamp}.`).update(body);
  const expected = Buffer.from(`v1=${hmac.digest('hex')}`);
  const given = Buffer.from(signature);
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

function handle(event) {
  if (event.type === 'message.unread_reminder' && event.data.recipient.role === 'vendor') {
    console.log(`email vendor ${event.data.recipient.id}: ${event.data.unreadCount} unread`);
  }
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    if (req.method !== 'POST' || !verified(req, body)) return res.writeHead(401).end();
    try {
      const event = JSON.parse(body);
      if (!handled.has(event.id)) {
        handle(event);
        handled.add(event.id);
      }
      res.writeHead(204).end(); // any 2xx: delivered
    } catch (e) {
      console.error(e);
      res.writeHead(500).end(); // souk tries again later, with the same id
    }
  });
});

server.listen(port, '127.0.0.1', () => {
  console.log(`marketplace backend listening on ${server.address().port}`);
});
