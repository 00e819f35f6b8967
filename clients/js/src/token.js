// Who a token names, read from its payload without verifying it (the server
// verifies the signature on every request and socket; docs/api.md "Identity").

export class TokenError extends Error {
  constructor(message) {
    super(message);
    this.name = 'TokenError';
  }
}

function base64UrlDecode(part) {
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
  const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The payload of a JWT, unverified. Throws TokenError when it is not one. */
export function tokenPayload(token) {
  const parts = String(token ?? '').trim().split('.');
  if (parts.length !== 3 || parts.some((p) => p.length === 0)) {
    throw new TokenError('not a token (expected three dot-separated parts)');
  }
  let payload;
  try {
    payload = JSON.parse(base64UrlDecode(parts[1]));
  } catch {
    throw new TokenError('the token payload cannot be read');
  }
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new TokenError('the token payload is not an object');
  }
  return payload;
}

/**
 * `{ id, role, name }` of a token: `sub`, `role` (a string, or an array
 * holding exactly one of customer and vendor) and `name` (the id when absent).
 * `roleClaim`/`nameClaim` follow SOUK_JWT_ROLE_CLAIM/SOUK_JWT_NAME_CLAIM.
 */
export function userFromToken(token, { roleClaim = 'role', nameClaim = 'name' } = {}) {
  const payload = tokenPayload(token);
  const claim = payload[roleClaim];
  const roles = (Array.isArray(claim) ? claim : [claim]).filter((r) => r === 'customer' || r === 'vendor');
  if (roles.length !== 1) throw new TokenError('the token has no role (customer or vendor)');
  const id = payload.sub;
  if (typeof id !== 'string' || id.length === 0) throw new TokenError('the token names no user (sub)');
  const name = typeof payload[nameClaim] === 'string' && payload[nameClaim].trim() ? payload[nameClaim].trim() : id;
  return { id, role: roles[0], name };
}
