// The signed-in user of this tab: a token (JWT, HS256, minted by the marketplace
// or by souk's demo mode) and what its payload says about the user.
//
// The payload is decoded here only to read `sub`, `role`, `name` and `exp`; the
// server verifies the signature on every request and socket. The session lives
// in sessionStorage so that two tabs of one browser can be two different users
// (a customer and a vendor side by side), and survives a reload of its tab.

import { TokenError, tokenPayload } from '@souk/client';

const KEY = 'souk.session';

// Reading the payload is the client kit's (`tokenPayload`, which throws
// its `TokenError` when the token is malformed).
export { TokenError };

/** The payload of a JWT, without verifying it. Throws TokenError if malformed. */
export function decodeJwt(token) {
  return tokenPayload(token);
}

/** Builds a session from a token; `user` (from the demo endpoint) wins over the payload. */
export function sessionFromToken(token, user) {
  const payload = decodeJwt(token);
  const role = user?.role ?? payload.role;
  const id = user?.id ?? payload.sub;
  if (role !== 'customer' && role !== 'vendor' && role !== 'operator') {
    throw new TokenError('The token has no role (customer, vendor or operator).');
  }
  if (typeof id !== 'string' || id.length === 0) {
    throw new TokenError('The token names no user (sub).');
  }
  const exp = typeof payload.exp === 'number' ? payload.exp : null;
  if (exp !== null && exp * 1000 <= Date.now()) {
    throw new TokenError('The token has expired.');
  }
  return {
    token: token.trim(),
    user: { id, role, name: user?.name ?? payload.name ?? id },
    exp,
  };
}

export function isExpired(session) {
  return session.exp !== null && session.exp * 1000 <= Date.now();
}

export function loadSession() {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const session = JSON.parse(raw);
    if (!session?.token || !session?.user?.id || isExpired(session)) {
      sessionStorage.removeItem(KEY);
      return null;
    }
    return session;
  } catch {
    return null;
  }
}

export function saveSession(session) {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}

/** The page of each side; support staff (operators) land on their search. */
export function homeOf(role) {
  if (role === 'operator') return '/operator';
  return role === 'vendor' ? '/vendor/chat' : '/chat';
}
