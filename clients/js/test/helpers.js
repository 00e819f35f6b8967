// Test doubles: messages, tokens, a fake fetch and a fake socket.io-client.

export const CONV = '49316337-9ec1-52e4-8b6c-d7dc6d8ef7a9';

export const msg = (seq, sender = 'c-1', extra = {}) => ({
  id: `0193f0c3-0000-7000-8000-${String(seq).padStart(12, '0')}`,
  conversationId: extra.conversationId ?? 'conv',
  seq,
  sender: { id: sender, role: sender.startsWith('v') ? 'vendor' : 'customer' },
  kind: 'text',
  text: `m${seq}`,
  product: null,
  clientMessageId: null,
  sentAt: `2026-12-01T04:19:${String(seq % 60).padStart(2, '0')}.000Z`,
  readAt: null,
  ...extra,
});

export function jwt(payload) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}.signature`;
}
