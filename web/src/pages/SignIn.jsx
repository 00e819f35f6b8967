import { useEffect, useState } from 'react';
import { useNavigate, useSearchParams } from 'react-router-dom';
import Avatar from '../components/Chat/Avatar.jsx';
import { ChatIcon } from '../components/Chat/icons.jsx';
import ProductCard from '../components/Chat/ProductCard.jsx';
import { fetchConfig, fetchDemoToken, fetchDemoUsers } from '@souk/client';
import { homeOf, loadSession, saveSession, sessionFromToken } from '../utils/auth.js';

function TokenForm({ onToken, error }) {
  const [token, setToken] = useState('');
  return (
    <form
      className="token-form"
      onSubmit={(e) => {
        e.preventDefault();
        onToken(token);
      }}
    >
      <label htmlFor="token">Token from your marketplace</label>
      <textarea
        id="token"
        rows={3}
        placeholder="eyJhbGciOiJIUzI1NiIs…"
        value={token}
        onChange={(e) => setToken(e.target.value)}
        spellCheck={false}
        data-testid="token-input"
      />
      {error && (
        <p className="form-error" role="alert" data-testid="signin-error">
          {error}
        </p>
      )}
      <button type="submit" className="button button-primary" disabled={!token.trim()} data-testid="token-submit">
        Sign in
      </button>
    </form>
  );
}

function PeopleColumn({ title, subtitle, people, role, onPick, busy }) {
  return (
    <section className="people">
      <h2>{title}</h2>
      <p className="muted">{subtitle}</p>
      <ul>
        {people.map((u) => (
          <li key={u.id}>
            <button
              type="button"
              className="person"
              onClick={() => onPick(u, role)}
              disabled={!!busy}
              data-testid={`demo-${role}`}
              data-user-id={u.id}
            >
              <Avatar id={u.id} name={u.name} size={40} />
              <span className="person-text">
                <span className="person-name">{u.name}</span>
                <span className="person-id">{u.id}</span>
              </span>
              <span className="person-go" aria-hidden="true">
                {busy === u.id ? '…' : '→'}
              </span>
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

/**
 * The conversation demo mode starts with, so that a visitor who signs in as
 * one of its two sides knows where it comes from and what waits in it.
 */
function SeededNote({ demo }) {
  const seeded = demo.seeded;
  if (!seeded) return null;
  const customer = demo.customers?.find((u) => u.id === seeded.customerId);
  const vendor = demo.vendors?.find((u) => u.id === seeded.vendorId);
  const product = demo.products?.find((p) => p.id === seeded.productId);
  if (!customer || !vendor || !product) return null;
  return (
    <p className="demo-seeded" data-testid="demo-seeded">
      One conversation is already under way: {customer.name} asked {vendor.name} about the {product.name}, and{' '}
      {customer.name}’s last question waits, unread, for {vendor.name}. Sign in as either of them to carry it on;
      “Chat with vendor” on another product of {vendor.name} asks about that one in the same conversation.
    </p>
  );
}

/**
 * Sign-in. In demo mode the visitor picks a customer, a vendor or the support
 * operator (the server mints the token); otherwise the embedding marketplace
 * hands over a token, in the URL (`/?token=…`) or pasted here. The token's
 * role decides the page.
 */
export default function SignIn() {
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [config, setConfig] = useState(null);
  const [configError, setConfigError] = useState(null);
  const [demo, setDemo] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(null);
  const urlToken = params.get('token');

  const enter = (session) => {
    saveSession(session);
    navigate(homeOf(session.user.role), { replace: true });
  };

  const signInWithToken = (token) => {
    try {
      enter(sessionFromToken(token));
    } catch (e) {
      setError(e.message);
    }
  };

  useEffect(() => {
    if (urlToken) {
      signInWithToken(urlToken);
      return;
    }
    const existing = loadSession();
    if (existing) {
      navigate(homeOf(existing.user.role), { replace: true });
      return;
    }
    let cancelled = false;
    fetchConfig()
      .then((c) => {
        if (cancelled) return;
        setConfig(c);
        if (c.demo) {
          fetchDemoUsers()
            .then((d) => !cancelled && setDemo(d))
            .catch((e) => !cancelled && setConfigError(e.message));
        }
      })
      .catch((e) => !cancelled && setConfigError(e.message));
    return () => {
      cancelled = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [urlToken]);

  const pick = async (user, role) => {
    setBusy(user.id);
    setError(null);
    try {
      const res = await fetchDemoToken(user.id, role);
      enter(sessionFromToken(res.token, res.user));
    } catch (e) {
      setError(e.message);
      setBusy(null);
    }
  };

  return (
    <main className="signin" data-testid="signin-page">
      <div className="signin-hero">
        <div className="brand brand-large">
          <span className="brand-mark">
            <ChatIcon />
          </span>
          souk
        </div>
        <h1>Talk to the people behind the products.</h1>
        <p>Real-time chat between shoppers and sellers: live typing, read receipts, products shared right in the conversation.</p>
      </div>

      <div className="signin-card">
        {!config && !configError && <p className="muted">Connecting to the server…</p>}
        {configError && (
          <p className="form-error" role="alert">
            The server cannot be reached: {configError}
          </p>
        )}
        {config?.demo && demo && (
          <>
            <div className="demo-tag">Demo mode — pick who you are</div>
            <SeededNote demo={demo} />
            {error && (
              <p className="form-error" role="alert" data-testid="signin-error">
                {error}
              </p>
            )}
            <div className="people-grid">
              <PeopleColumn
                title="Shop as a customer"
                subtitle="Browse products and ask their sellers."
                people={demo.customers ?? []}
                role="customer"
                onPick={pick}
                busy={busy}
              />
              <PeopleColumn
                title="Answer as a vendor"
                subtitle="Your customers' questions, live."
                people={demo.vendors ?? []}
                role="vendor"
                onPick={pick}
                busy={busy}
              />
            </div>
            {demo.operators?.length > 0 && (
              <div className="signin-shops people-grid" data-testid="demo-operators">
                <PeopleColumn
                  title="Help as support staff"
                  subtitle="Look into any conversation to settle a dispute; every look is recorded in its log."
                  people={demo.operators}
                  role="operator"
                  onPick={pick}
                  busy={busy}
                />
              </div>
            )}
            {demo.products?.length > 0 && (
              <div className="signin-shops">
                <h3>In the shops today</h3>
                <div className="signin-products">
                  {demo.products.map((p) => (
                    <ProductCard key={p.id} product={p} variant="shop" testId="signin-product" />
                  ))}
                </div>
              </div>
            )}
          </>
        )}
        {(config && !config.demo) || configError ? <TokenForm onToken={signInWithToken} error={error} /> : null}
      </div>
    </main>
  );
}
